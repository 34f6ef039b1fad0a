"""Who does the work: a running controller (over its socket), else this process.

While a controller holds the state dir's lock, the CLI hands its request over and waits;
with none running it takes the lock itself and reconciles in-process (the embedded
default: nothing to start first). A CLI that waits for another CLI keeps checking for a
controller, so it never waits on a lock a controller will not give back.

Every verb has one deadline (its `--timeout`, else AGENTTOWER_TIMEOUT) for all of it:
waiting for the lock, the pass, `--wait`. The request carries it as wall-clock time, so
a controller that picks it up too late drops it instead of doing it after the CLI has
reported a failure.
"""

from __future__ import annotations

import time
from typing import Any

from agenttower.daemon import protocol
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.paths import Paths
from agenttower.reconcile import engine
from agenttower.reconcile.lock import LockBusy, reconciler_lock
from agenttower.reconcile.reconciler import Request, reconcile
from agenttower.settings import Settings

POLL_S = 0.05
ANSWER_GRACE_S = 5.0  # past the deadline: the controller's answer to a request it cut short


def dispatch(
    paths: Paths, settings: Settings, request: dict[str, Any], timeout: float | None = None
) -> dict[str, Any]:
    seconds = settings.verbs.timeout if timeout is None else timeout
    deadline = time.monotonic() + seconds
    lock_deadline = time.monotonic() + min(seconds, settings.verbs.lock_timeout)
    request = {**request, "deadline": time.time() + seconds}
    paths.ensure_state_dir()
    while True:
        try:
            left = max(deadline - time.monotonic(), 0.0)
            return protocol.call(paths.socket, request, timeout=left + ANSWER_GRACE_S)
        except protocol.ControllerUnavailable:
            pass
        except protocol.NoAnswer:
            raise _no_answer(paths, seconds) from None
        try:
            with (
                reconciler_lock(paths.lock_file, 0),
                engine.session_unlocked(paths, settings) as session,
                session.calls.until(deadline),
            ):
                answer = reconcile(session, Request.from_wire(request)).answer
                assert answer is not None
                return answer
        except LockBusy:
            pass
        if time.monotonic() >= lock_deadline:
            raise AgentTowerError(ErrorCode.INTERNAL_ERROR, f"the state dir {paths.state_dir} stayed locked")
        time.sleep(POLL_S)


def _no_answer(paths: Paths, seconds: float) -> AgentTowerError:
    """Name what the controller is stuck on: its calls in flight, asked without a pass."""
    try:
        busy = protocol.call(paths.socket, {"op": protocol.OBSERVATION}, timeout=2.0).get("inFlight", [])
    except (protocol.ControllerUnavailable, protocol.NoAnswer, AgentTowerError, OSError, ValueError):
        busy = []
    stuck = "; ".join(f"target {c['target']} did not answer {c['command']} for {c['seconds']}s" for c in busy)
    return AgentTowerError(
        ErrorCode.INTERNAL_ERROR,
        f"the controller did not answer within {seconds:.3g}s"
        + (f" ({stuck})" if stuck else "")
        + "; it drops the request if it had not started it",
    )
