"""Appending outbox rows to the JSONL audit file exactly once, even across crashes and
after the file was deleted, cut short or torn.

Appending and marking the outbox row are two steps, so a crash between them would
duplicate an event; and the file lives outside SQLite, so it can lose lines the outbox
still has. The writer therefore remembers the file's identity and size as it left
them (`FileMark`). While the file still matches, new rows are just appended. When it
does not (a crash after an append, a deleted, truncated or torn file), the file is
compared with the whole outbox and repaired once: a torn last line is cut, what is
missing is appended, and a file whose events are out of order is rewritten.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class FileMark(NamedTuple):
    """Where the audit file stood after the last write: which file, how long."""

    inode: int
    size: int


@dataclass(frozen=True)
class Line:
    raw: bytes
    event_id: str | None  # None: not an event line (kept, never interpreted)


def mark_of(path: Path) -> FileMark | None:
    """The mark of a regular file; None when there is none (or it is not a regular file,
    e.g. /dev/full, whose reads never end)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return FileMark(info.st_ino, info.st_size) if stat.S_ISREG(info.st_mode) else None


def scan(path: Path) -> tuple[list[Line], int | None]:
    """Every complete line, and where a torn final line starts (None: there is none).
    Changes nothing."""
    if mark_of(path) is None:
        return [], None
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    lines = [Line(raw, _event_id(raw)) for raw in data[:end].split(b"\n")[:-1]]
    return lines, (end if end != len(data) else None)


def read_lines(path: Path) -> list[Line]:
    """Every complete line; a torn final line (a crash mid-append) is cut off the file."""
    lines, torn_at = scan(path)
    if torn_at is not None:
        with path.open("rb+") as fh:
            fh.truncate(torn_at)
    return lines


def missing(path: Path, event_ids: Sequence[str]) -> tuple[int, bool]:
    """(how many of `event_ids` the file lacks, whether its last line is torn): what a
    repair would do, found without doing it."""
    lines, torn_at = scan(path)
    present = {line.event_id for line in lines}
    return sum(1 for event_id in event_ids if event_id not in present), torn_at is not None


def _event_id(raw: bytes) -> str | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return event_id if isinstance(event_id, str) else None


def repair(path: Path, events: Sequence[tuple[str, str]]) -> None:
    """Make the file hold every `(event_id, body)` of `events` exactly once, in order.

    The usual damage (deleted, cut short, torn) leaves a prefix of the events: the rest
    is appended, so a `tail -f` reader keeps reading. Anything else (lines lost in the
    middle, duplicates) is rewritten atomically: lines that are not outbox events (an
    older database's) stay first, then the events in order."""
    lines = read_lines(path)
    known = {event_id for event_id, _ in events}
    present = [line.event_id for line in lines if line.event_id in known]
    ordered = [event_id for event_id, _ in events]
    if present == ordered[: len(present)]:
        append(path, [body for _, body in events[len(present) :]])
        return
    kept = [line.raw.decode() for line in lines if line.event_id not in known]
    _replace(path, [*kept, *(body for _, body in events)])


def _replace(path: Path, lines: Sequence[str]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".events-", dir=path.parent)
    try:
        try:
            _write_all(fd, "".join(line + "\n" for line in lines).encode(), path)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append(path: Path, bodies: Sequence[str]) -> None:
    """Append already-serialised events, one per line, and fsync before returning."""
    if not bodies:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = "".join(body + "\n" for body in bodies).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        _write_all(fd, data, path)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, path: Path) -> None:
    """Write and fsync; an error names the file (os.write's own errors name none)."""
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
