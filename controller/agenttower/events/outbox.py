"""An event as the outbox and the audit file hold it, and the outbox flushed to the file.

The store writes the row inside the transaction that made the change (so a change and
its event commit together); what the row says, and how rows reach the JSONL file
exactly once, is decided here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agenttower.model.lifecycle import Actor
from agenttower.model.redaction import redact

from . import audit
from .types import EventType


@dataclass(frozen=True)
class Subject:
    """What an event is about, with the per-layout and per-pane sequence numbers it got."""

    layout_id: str | None
    layout: str | None = None
    layout_seq: int | None = None
    pane_id: str | None = None
    label: str | None = None
    pane_seq: int | None = None


def body(
    event_type: EventType, now: str, actor: Actor | str, subject: Subject, payload: Mapping[str, Any] | None
) -> tuple[str, str]:
    """(event_id, the serialised event): the wire shape of every audit line."""
    event_id = f"evt_{uuid.uuid4().hex[:16]}"
    value = {
        "event_id": event_id,
        "timestamp": now,
        "event_type": str(event_type),
        "actor": str(actor),
        "layout": subject.layout,
        "layout_id": subject.layout_id,
        "pane": f"{subject.layout}/{subject.label}" if subject.layout and subject.label else None,
        "pane_id": subject.pane_id,
        "layout_seq": subject.layout_seq,
        "pane_seq": subject.pane_seq,
        "payload": redact(dict(payload or {})),
    }
    return event_id, json.dumps(value, separators=(",", ":"), sort_keys=False)


class Outbox(Protocol):
    """The store's side of the outbox, as a flush needs it."""

    def audit_mark(self) -> tuple[int, int] | None: ...
    def last_event_seq(self) -> int: ...
    def all_events(self) -> list[tuple[str, str]]: ...
    def unwritten_events(self, limit: int = ...) -> list[tuple[int, str, str]]: ...
    def mark_written_through(self, seq: int, mark: tuple[int, int] | None) -> None: ...


def flush(path: Path, outbox: Outbox) -> None:
    """Outbox -> JSONL exactly once. While the file is as the last flush left it, the
    unwritten rows are appended; otherwise (a crash after an append, or a file deleted,
    cut short or torn behind our back) it is repaired against the whole outbox."""
    mark = outbox.audit_mark()
    if mark is None or audit.mark_of(path) != mark:
        last = outbox.last_event_seq()
        audit.repair(path, outbox.all_events())
        outbox.mark_written_through(last, audit.mark_of(path))
        return
    rows: Sequence[tuple[int, str, str]] = outbox.unwritten_events()
    if rows:
        audit.append(path, [text for _, _, text in rows])
        outbox.mark_written_through(rows[-1][0], audit.mark_of(path))
