"""Every tmux (or `docker exec`) child of a session runs here, so one place bounds them all.

A hung tmux server (SIGSTOPped, or out of descriptors) accepts a client and never
answers: each call then waits its whole stage timeout, and retries multiply that. So a
verb gives its session one deadline that caps every call and every retry wait, and a
controller told to stop kills what is in flight (from its signal handler) instead of
waiting it out. Children run in their own process group, so a shell wrapper and what
it started die together.

A killed tmux client's pipes do not reach end-of-file: the client hands its stdout and
stderr to the server (SCM_RIGHTS), and a stopped server holds them unread in its socket
queue. So a call waits for the child in short slices, and once the child is gone (or
killed) it stops reading instead of waiting for an end-of-file that never comes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

TICK_S = 0.1  # how often a waiting call looks at its child and at stop()
EOF_GRACE_S = 1.0  # after the child exited: how long its output may still be arriving


class Interrupted(Exception):
    """The session is shutting down: the call was killed, or never started. Not transient:
    nothing retries it, and the pass in flight is abandoned (as a crash would leave it,
    which the next pass finishes)."""


class OutOfTime(Exception):
    """The deadline left no time for this call (or cut it short)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass(frozen=True)
class InFlight:
    """A call that has not answered yet: what the controller names when it must stop."""

    target: str
    command: str
    started: float  # time.monotonic()

    def describe(self, now: float) -> str:
        return f"{self.command} on {self.target}, {now - self.started:.1f}s without an answer"


class Calls:
    """The children of one session. `stop()` may be called from a signal handler, so it
    takes no lock: registration is single dict operations, atomic under the GIL."""

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._live: dict[int, tuple[subprocess.Popen[str], InFlight]] = {}
        self.deadline: float | None = None  # time.monotonic(); None: stage timeouts only
        self.reason = ""

    @contextmanager
    def until(self, deadline: float | None) -> Iterator[None]:
        """Bound every call made inside by `deadline` (one verb's, in a long-lived session)."""
        previous, self.deadline = self.deadline, deadline
        try:
            yield
        finally:
            self.deadline = previous

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def timeout(self, stage: float) -> float:
        """The stage timeout, cut to what is left before the deadline."""
        self._check()
        if self.deadline is None:
            return stage
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime(0.0)
        return min(stage, left)

    def sleep(self, seconds: float) -> None:
        """A retry or probe wait that ends early at the deadline or on stop."""
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        self._stopped.wait(seconds)

    def run(
        self,
        argv: Sequence[str],
        stdin: str | None,
        timeout: float,
        env: Mapping[str, str],
        target: str,
    ) -> subprocess.CompletedProcess[str]:
        self._check()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            env=dict(env),
            process_group=0,
        )
        self._live[proc.pid] = (proc, InFlight(target, _command(argv), time.monotonic()))
        try:
            out, err = self._communicate(proc, stdin, timeout)
        finally:
            self._live.pop(proc.pid, None)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    def _communicate(self, proc: subprocess.Popen[str], stdin: str | None, timeout: float) -> tuple[str, str]:
        end = time.monotonic() + timeout
        exited_at: float | None = None
        while True:
            try:  # the input goes on the first call only; later calls carry on writing it
                return proc.communicate(stdin, timeout=max(min(TICK_S, end - time.monotonic()), 0.0))
            except subprocess.TimeoutExpired:
                stdin = None
            now = time.monotonic()
            if self.stopped:
                _abandon(proc)
                raise Interrupted(self.reason or "stopping")
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if now >= end or (exited_at is not None and now - exited_at > EOF_GRACE_S):
                _abandon(proc)
                raise subprocess.TimeoutExpired(proc.args, timeout)

    def in_flight(self) -> list[InFlight]:
        return sorted((call for _, call in list(self._live.values())), key=lambda c: c.started)

    def stop(self, reason: str) -> list[InFlight]:
        """Kill every call in flight and refuse new ones; returns what was killed."""
        self.reason = reason
        self._stopped.set()
        killed = []
        for proc, call in list(self._live.values()):
            _kill(proc)
            killed.append(call)
        return killed

    def _check(self) -> None:
        if self.stopped:
            raise Interrupted(self.reason or "stopping")


def _command(argv: Sequence[str]) -> str:
    """The tmux command of an argv (`list-panes`, `source-file`), for log lines."""
    words = [a for a in argv if not a.startswith("-")]
    for known in ("list-panes", "source-file", "kill-pane", "kill-session"):
        if known in words:
            return known
    return os.path.basename(argv[0]) if argv else "?"


def _abandon(proc: subprocess.Popen[str]) -> None:
    """Kill, reap, and close our ends of its pipes without reading them to the end."""
    _kill(proc)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=EOF_GRACE_S)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()


def _kill(proc: subprocess.Popen[str]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
