"""`notify`: run the operator's program, with the event's JSON on stdin, when an agent
needs someone: it started `waiting` (and still is after a grace), its crash loop is
held, or recovery failed. The one hook people reach ntfy, Slack or a pager from.

Fed by the controller with the events each pass (or request) wrote, and run beside
the loop, never in it: daemon threads, at most WORKERS programs at once, each bounded
by a timeout (then its process group is killed), at most one call in flight per pane
(or layout) so a slow program never piles up, and every failure logged. A pass never
waits for it, and a stopping controller kills what still runs instead of waiting.

A waiting episode notifies once: `waiting` arms a timer of the grace, any other
activity of that pane before it fires disarms it, and the timer fires only once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from agenttower.events.types import EventType
from agenttower.settings import NotifySettings

log = structlog.get_logger("agenttower.notify")

AT_ONCE = frozenset({EventType.PANE_CRASH_LOOP_HELD, EventType.LAYOUT_RECOVERY_FAILED})
WAITING = "waiting"
WORKERS = 4

Event = Mapping[str, Any]
Resolve = Callable[[Event], Sequence[str]]  # the argv for an event ((): nobody to tell)


@dataclass
class Notifier:
    settings: NotifySettings
    argv_for: Resolve
    runs: int = 0  # calls started (for the log and tests' counts)
    _slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(WORKERS))
    _live: dict[int, subprocess.Popen[str]] = field(default_factory=dict)  # pid -> a running call
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: set[str] = field(default_factory=set)  # panes (or layouts) with a call in flight
    _armed: dict[str, threading.Timer] = field(default_factory=dict)  # pane id -> its waiting timer
    _stopped: bool = False

    def feed(self, events: Sequence[Event]) -> None:
        """What a pass wrote, oldest first: notify now, arm or disarm a waiting timer.
        The argv is resolved here, on the caller's thread (it may read the store)."""
        for event in events:
            kind = event.get("event_type")
            if kind in AT_ONCE:
                self._submit(event, tuple(self.argv_for(event)))
            elif kind == EventType.PANE_ACTIVITY_CHANGED:
                self._activity(event)

    def _activity(self, event: Event) -> None:
        pane = str(event.get("pane_id") or "")
        to = (event.get("payload") or {}).get("to")
        with self._lock:
            timer = self._armed.pop(pane, None)
            if timer is not None:
                timer.cancel()  # the episode ended (or began again) before the grace
            if to != WAITING or not pane:
                return
        argv = tuple(self.argv_for(event))
        if not argv:
            return
        with self._lock:
            timer = threading.Timer(self.settings.waiting_grace, self._grace_over, (pane, event, argv))
            timer.daemon = True
            self._armed[pane] = timer
        timer.start()

    def _grace_over(self, pane: str, event: Event, argv: tuple[str, ...]) -> None:
        with self._lock:
            if self._armed.get(pane) is None:
                return
            del self._armed[pane]
        self._submit(event, argv)

    def _submit(self, event: Event, argv: tuple[str, ...]) -> None:
        if not argv:
            return
        key = str(event.get("pane_id") or event.get("layout_id") or "*")
        with self._lock:
            if key in self._busy:
                log.warning(
                    "notify skipped: the last call for it still runs",
                    subject=key,
                    event_type=event.get("event_type"),
                )
                return
            self._busy.add(key)
            self.runs += 1
        body = json.dumps(event, separators=(",", ":"))
        threading.Thread(target=self._run, args=(key, argv, body), daemon=True, name="notify").start()

    def _run(self, key: str, argv: tuple[str, ...], body: str) -> None:
        with self._slots:
            self._call(key, argv, body)

    def _call(self, key: str, argv: tuple[str, ...], body: str) -> None:
        proc = self._start(argv)
        if proc is None:
            self._done(key)
            return
        try:
            _, err = proc.communicate(body, timeout=self.settings.timeout)
            if proc.returncode != 0:
                log.warning("notify failed", argv=list(argv), exit_code=proc.returncode, stderr=err[-500:])
        except subprocess.TimeoutExpired:
            _kill(proc)
            log.warning("notify timed out", argv=list(argv), timeout_s=self.settings.timeout)
        finally:
            with self._lock:
                self._live.pop(proc.pid, None)
            self._done(key)

    def _start(self, argv: tuple[str, ...]) -> subprocess.Popen[str] | None:
        """Started and registered under the lock, so a stop either sees the call (and
        kills it) or comes first (and the call never starts): nothing outlives a stop."""
        with self._lock:
            if self._stopped:
                return None
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,  # its own group: a timeout kills what it started too
                )
            except OSError as exc:
                log.warning("notify failed to start", argv=list(argv), error=exc.strerror)
                return None
            self._live[proc.pid] = proc
            return proc

    def _done(self, key: str) -> None:
        with self._lock:
            self._busy.discard(key)

    def stop(self) -> None:
        """Disarm the timers and kill the calls still running (a stop does not wait)."""
        with self._lock:
            self._stopped = True
            for timer in self._armed.values():
                timer.cancel()
            self._armed.clear()
            live = list(self._live.values())
        for proc in live:
            _kill(proc)


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
