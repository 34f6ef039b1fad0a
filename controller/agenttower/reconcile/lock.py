"""One reconciler per state dir: an advisory `flock` on `<state>/agenttower.lock`.

A second CLI process waits for the lock (it does not fail), so two `apply` commands
run one after the other and never create the same pane twice.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agenttower.model.errors import AgentTowerError, ErrorCode


class LockBusy(AgentTowerError):
    """Someone else reconciles this state dir right now."""


@contextmanager
def reconciler_lock(path: Path, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        ErrorCode.INTERNAL_ERROR, f"another agenttower holds {path} (waited {timeout:.0f}s)"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
