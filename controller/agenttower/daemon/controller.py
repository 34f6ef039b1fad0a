"""The control loop: one reconciler per state dir, woken by file events, socket requests,
tmux's own events (daemon/listen.py: a pane died, was killed, a server went), the resync
timer (with jitter), back-off deadlines, and the re-look at a target no listener hears
that could not take panes (an engine down, a container stopped: daemon/listen.py).

Everything that touches SQLite or tmux runs on this one thread, in order: a request from
the CLI is handled between passes, never during one. SIGTERM and SIGINT kill the tmux
calls in flight and end the pass at its next call (each stage is its own transaction,
so what it leaves is what a crash at that point leaves, which the next pass finishes),
then exit 0: a pass stuck on a hung server would otherwise hold the stop for three
stage timeouts, past systemd's TimeoutStopSec.
"""

from __future__ import annotations

import queue
import random
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import FrameType
from typing import Any

import structlog

from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import Actor
from agenttower.paths import Paths
from agenttower.reconcile import desired_dir, engine, reconciler
from agenttower.reconcile.reconciler import Op, Result, reconcile
from agenttower.runtime.calls import InFlight, Interrupted
from agenttower.settings import Settings
from agenttower.store.faults import translate

from . import protocol
from .listen import Listeners
from .notify import Notifier
from .watch import Watcher

log = structlog.get_logger("agenttower.controller")


@dataclass
class Request:
    body: dict[str, Any]
    reply: queue.Queue[dict[str, Any]] = field(default_factory=lambda: queue.Queue(maxsize=1))


@dataclass
class Controller:
    paths: Paths
    settings: Settings
    resync: float = 30.0
    allow_empty: bool = False
    target_host: str | None = None  # `--target-host`: wins over AGENTTOWER_TARGET_HOST
    wake: queue.Queue[object] = field(default_factory=queue.Queue)
    stopping: bool = False
    passes: int = 0
    session: engine.Session | None = None  # set while running: its last observation is served
    stop_reason: str = ""
    killed: list[InFlight] = field(default_factory=list)  # calls the stop cut short
    listeners: Listeners | None = None
    notifier: Notifier | None = None
    notified: int = 0  # the outbox row the notifier was last fed up to

    def run(self) -> int:
        self._signals()
        loop = replace(
            self.settings.loop,
            allow_empty=self.allow_empty,
            target_host=self.target_host or self.settings.loop.target_host,
        )
        with engine.session(self.paths, replace(self.settings, loop=loop), Actor.CONTROLLER) as session:
            self.session = session
            self.listeners = Listeners(
                session.store.instance_id,
                lambda key: self.wake.put(f"event {key}"),
                relook_first=self.settings.loop.relook_first,
                relook_cap=self.resync,
            )
            self.notifier = Notifier(self.settings.notify, lambda event: self._notify_argv(session, event))
            self.notified = session.store.last_event_seq()  # what happened before this start is old news
            server = protocol.listen(self.paths.socket)
            threading.Thread(target=self._serve, args=(server,), daemon=True, name="socket").start()
            watcher = Watcher(self.paths.desired_dir, lambda: self.wake.put("dirty"))
            log.info(
                "controller started",
                desired_dir=str(self.paths.desired_dir),
                state_dir=str(self.paths.state_dir),
                resync_s=self.resync,
                target_host=loop.target_host,
            )
            try:
                self._loop(session, watcher)
            finally:
                if self.notifier is not None:
                    self.notifier.stop()
                if self.listeners is not None:
                    self.listeners.stop()
                watcher.stop()
                server.close()
                self.paths.socket.unlink(missing_ok=True)
        log.info("controller stopped", passes=self.passes)
        return 0

    def _signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            """No logging here (a write inside a write is an error): the loop logs it."""
            self.stopping = True
            self.stop_reason = signal.Signals(signum).name
            if self.session is not None:
                self.killed += self.session.calls.stop(self.stop_reason)
            if self.listeners is not None:
                self.listeners.calls.stop(self.stop_reason)  # the blocked waits: not worth naming
            self.wake.put("stop")

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _loop(self, session: engine.Session, watcher: Watcher) -> None:
        cache = desired_dir.DirCache()
        requeue_at: datetime | None = None
        next_resync = 0.0  # the first pass is boot recovery, at once
        while not self.stopping:
            watcher.ensure()
            timeout = next_resync - time.monotonic()
            if requeue_at is not None:
                timeout = min(timeout, (requeue_at - session.clock()).total_seconds())
            items = self._wait(max(timeout, 0.0))
            if self.stopping:
                break
            for item in items:
                if isinstance(item, Request):
                    self._handle(session, item)
            self._notify(session)
            if self.stopping:
                break
            try:
                result = self._pass(session, cache)
            except Interrupted:
                break
            except Exception:  # e.g. the state dir's disk is full: the next pass may work
                retry = self.settings.loop.after_failure
                log.exception("pass failed", retry_in_s=retry)
                next_resync = time.monotonic() + min(retry, self.resync)
                continue
            assert result.passed is not None
            self._notify(session)
            relook = None
            if self.listeners is not None:
                relook = self.listeners.after_pass(dict(result.passed.observed), session.runtime)
            requeue_at = result.requeue_at
            delay = result.requeue_after
            if relook is not None:  # a target nothing will tell us about when it is back
                delay = relook if delay is None else min(delay, relook)
            if delay is None:  # nothing left: the resync (with jitter) catches what events missed
                delay = self.resync * random.uniform(0.9, 1.1)
            next_resync = time.monotonic() + delay
        if self.stopping:
            now = time.monotonic()
            log.warning(
                "pass interrupted" if self.killed else "stopping",
                signal=self.stop_reason,
                killed=[call.describe(now) for call in self.killed],
            )

    def _pass(self, session: engine.Session, cache: desired_dir.DirCache) -> Result:
        desired, problems = desired_dir.load_lenient(
            self.paths.desired_dir, engine.legacy_catalog(self.paths), cache
        )
        started = time.monotonic()
        ask = reconciler.Request(
            Op.PASS, desired=desired, problems=tuple(problems), recovery=self.passes == 0
        )
        result = reconcile(session, ask)
        self.passes += 1
        assert result.passed is not None
        self._log(result.passed, time.monotonic() - started)
        return result

    def _notify(self, session: engine.Session) -> None:
        """Hand the events written since the last look to the notifier (it never blocks)."""
        if self.notifier is None:
            return
        self.notified, events = session.store.events_after(self.notified)
        if events:
            self.notifier.feed(events)

    def _notify_argv(self, session: engine.Session, event: Mapping[str, Any]) -> tuple[str, ...]:
        """The layout's `spec.notify`, else the controller-wide AGENTTOWER_NOTIFY."""
        layout_id = event.get("layout_id")
        rec = session.store.layout(str(layout_id)) if layout_id else None
        if rec is not None and rec.resolved:
            own = tuple(rec.resolved.get("notify") or ())
            if own:
                return own
        return self.settings.notify.argv

    def _wait(self, timeout: float) -> list[object]:
        """Block until something happens (or the timer), then take everything queued."""
        items: list[object] = []
        try:
            items.append(self.wake.get(timeout=min(timeout, 3600.0)))
        except queue.Empty:
            return items
        while True:
            try:
                items.append(self.wake.get_nowait())
            except queue.Empty:
                return items

    def _handle(self, session: engine.Session, request: Request) -> None:
        """An operator's request: done on this thread, between passes, as the operator."""
        started = time.monotonic()
        session.actor = Actor.OPERATOR
        try:
            with session.calls.until(self._deadline(request)):
                answer = reconcile(session, reconciler.Request.from_wire(request.body)).answer
                result: dict[str, Any] = {"result": answer}
        except AgentTowerError as exc:
            result = {"error": exc.to_wire()}
        except Interrupted:
            result = {
                "error": AgentTowerError(ErrorCode.INTERNAL_ERROR, "the controller is stopping").to_wire()
            }
        except Exception as exc:
            log.exception("request failed", op=request.body.get("op"))
            known = translate(exc, self.paths.database, self.paths.audit_file)
            error = known or AgentTowerError(ErrorCode.INTERNAL_ERROR, "internal error")
            result = {"error": error.to_wire()}
        finally:
            session.actor = Actor.CONTROLLER
        log.info(
            "request",
            op=request.body.get("op"),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            error=result.get("error", {}).get("code"),
        )
        request.reply.put(result)

    @staticmethod
    def _deadline(request: Request) -> float | None:
        """The CLI's deadline (wall clock on the wire) on this process's monotonic clock; a
        request already past it is refused before anything is done: its CLI has given up."""
        wall = request.body.get("deadline")
        if wall is None:
            return None
        left = float(wall) - time.time()
        if left <= 0:
            raise AgentTowerError(
                ErrorCode.INTERNAL_ERROR, "the request expired before the controller could start it"
            )
        return time.monotonic() + left

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed at shutdown
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        import json
        import os

        with conn:
            try:
                if protocol.peer_uid(conn) != os.getuid():
                    protocol.send(
                        conn,
                        {
                            "error": AgentTowerError(
                                ErrorCode.VALIDATION_FAILED,
                                "permission denied",
                                {"field": "peer", "reason": "uid"},
                            ).to_wire()
                        },
                    )
                    return
                body = json.loads(protocol.read_line(conn))
                if body.get("op") == protocol.OBSERVATION:  # answered here: must not wake a pass
                    protocol.send(conn, {"result": self.observation()})
                    return
                request = Request(body)
                self.wake.put(request)
                protocol.send(conn, request.reply.get())
            except (OSError, ValueError):
                return

    def observation(self) -> dict[str, Any]:
        """When each target was last listed, and whether that worked: what `get` shows
        while this controller runs (its records are that listing, judged)."""
        seen = self.session.seen if self.session is not None else {}
        now = time.monotonic()
        busy = self.session.calls.in_flight() if self.session is not None else []
        return {
            "passes": self.passes,
            "targets": {key: s.to_wire() for key, s in seen.items()},
            "inFlight": [
                {"target": c.target, "command": c.command, "seconds": round(now - c.started, 1)} for c in busy
            ],
        }

    def _log(self, result: engine.PassResult, seconds: float) -> None:
        fields: dict[str, Any] = {
            "duration_ms": round(seconds * 1000, 1),
            "actions": [str(a) for a in result.plan.actions],
            "tmux_calls": result.invocations,
        }
        if result.problems:
            fields["problems"] = [p.error.located_message() for p in result.problems]
        if result.held:
            fields["held"] = list(result.held)
        if result.plan.blocked:
            fields["blocked"] = [f"{b.layout}: {b.error.message}" for b in result.plan.blocked]
        notes = [str(n) for n in result.plan.notes]
        if notes:
            fields["notes"] = notes
        for error in result.errors:
            log.warning("action failed", code=str(error.code), message=error.located_message())
        log.info("reconcile", **fields)
