"""Who does the work: a running controller (over its socket), else this process.

While a controller holds the state dir's lock, the CLI hands its request over and waits;
with none running it takes the lock itself and reconciles in-process (the embedded
default: nothing to start first). A CLI that waits for another CLI keeps checking for a
controller, so it never waits on a lock a controller will not give back.
"""

from __future__ import annotations

import time
from typing import Any

from agenttower.daemon import protocol
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.paths import Paths
from agenttower.reconcile import engine, operations
from agenttower.reconcile.lock import LockBusy, reconciler_lock
from agenttower.reconcile.settings import Settings

POLL_S = 0.05


def dispatch(paths: Paths, settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + settings.lock_timeout
    paths.ensure_state_dir()
    while True:
        try:
            return protocol.call(paths.socket, request)
        except protocol.ControllerUnavailable:
            pass
        try:
            with reconciler_lock(paths.lock_file, 0), engine.session_unlocked(paths, settings) as session:
                return operations.handle(session, request)
        except LockBusy:
            pass
        if time.monotonic() >= deadline:
            raise AgentTowerError(ErrorCode.INTERNAL_ERROR, f"the state dir {paths.state_dir} stayed locked")
        time.sleep(POLL_S)
