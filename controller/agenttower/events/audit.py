"""Appending outbox rows to the JSONL audit file exactly once, even across crashes.

Appending and marking the outbox row are two steps, so a crash between them would
duplicate an event. Instead the file itself is the record of what was written: before
appending, the tail is read (a torn last line is cut off) and its last `event_id`
tells the caller which outbox rows are already in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

_TAIL_BYTES = 64 * 1024


def repair_tail(path: Path) -> str | None:
    """Cut a torn final line, and return the `event_id` of the last complete line."""
    if not path.exists():
        return None
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        start = max(0, size - _TAIL_BYTES)
        fh.seek(start)
        tail = fh.read()
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            fh.truncate(start + cut + 1 if cut >= 0 else start)
            tail = tail[: cut + 1] if cut >= 0 else b""
        for line in reversed(tail.splitlines()):
            try:
                event_id = json.loads(line).get("event_id")
            except (ValueError, AttributeError):
                continue
            if isinstance(event_id, str):
                return event_id
    return None


def append(path: Path, bodies: Sequence[str]) -> None:
    """Append already-serialised events, one per line, and fsync before returning."""
    if not bodies:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = "".join(body + "\n" for body in bodies).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
