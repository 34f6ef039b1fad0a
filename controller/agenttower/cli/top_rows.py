"""What `top` shows, read from the state store alone: one row per live layout, then one
per current pane of it, with its state, activity, age, restarts and last event.

The store is opened read-only and kept open; a refresh costs two queries when nothing
changed (`PRAGMA data_version` says so, the store keeps its last read) plus the events
written since the last refresh (by outbox sequence). It never runs tmux: what the
records say is what the controller's passes saw, and a second observer listing every
target each second is exactly the load a dashboard must not add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agenttower.events.types import EventType
from agenttower.model.lifecycle import Actor, State
from agenttower.paths import Paths
from agenttower.store.db import present
from agenttower.store.records import PaneRecord, current_panes
from agenttower.store.repo import Store

from .tables import age

EVENT_PREFIX = "managed_"
# bookkeeping, never news: a pane's creation marker (what makes it crash-safe), and its
# log's rotation (a busy pane's would otherwise hide what happened to it)
QUIET = frozenset(
    {EventType.PANE_PENDING_MARKER_SET, EventType.PANE_PENDING_MARKER_CLEARED, EventType.PANE_LOG_ROTATED}
)


@dataclass(frozen=True)
class Row:
    key: str  # `layout/NAME` or `pane/LAYOUT/LABEL`: what the verbs take
    name: str  # what a person types: NAME or LAYOUT/LABEL
    layout: str
    is_layout: bool
    state: str
    activity: str
    age: str
    restarts: str
    last_event: str
    detail: str = ""  # the status line's: a pane's failed stage and reason, a layout's session

    def matches(self, text: str) -> bool:
        """A filter's words all appear in the row's name, state or activity (any case)."""
        hay = f"{self.name} {self.state} {self.activity}".lower()
        return all(word in hay for word in text.lower().split())


@dataclass
class Board:
    """The rows of one state dir, refreshed on demand from one read-only connection."""

    paths: Paths
    store: Store | None = None
    seq: int = 0  # the last outbox row read
    last: dict[str, str] = field(default_factory=dict)  # record id -> its last event, shown

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _open(self) -> Store | None:
        if self.store is None and present(self.paths.database):
            self.store = Store.open_for_reading(self.paths.database)
        return self.store

    def rows(self, now: datetime) -> list[Row]:
        store = self._open()
        if store is None:
            return []
        self.seq, events = store.events_after(self.seq)
        for event in events:
            if event.get("event_type") in QUIET:
                continue
            for key in (event.get("pane_id"), event.get("layout_id")):
                if key:
                    self.last[key] = _event_text(event)
        by_layout: dict[str, list[PaneRecord]] = {}
        for pane in store.live_layout_panes():
            by_layout.setdefault(pane.layout_id, []).append(pane)
        rows: list[Row] = []
        for layout in store.layouts():
            current = current_panes(by_layout.get(layout.id, [])).values()
            shown = [p for p in current if p.state != State.REMOVED or p.removed_by == Actor.OPERATOR]
            live = [p for p in shown if p.state != State.REMOVED]
            ready = sum(1 for p in live if p.state == State.READY)
            rows.append(
                Row(
                    f"layout/{layout.name}",
                    layout.name,
                    layout.name,
                    True,
                    f"{layout.state} {ready}/{len(live)}",
                    "",
                    age(layout.created_at, now),
                    "",
                    self.last.get(layout.id, ""),
                    f"session {layout.session} on {layout.target_key}",
                )
            )
            for pane in sorted(shown, key=lambda p: p.slot):
                stage = f" ({pane.failed_stage})" if pane.failed_stage else ""
                reason = f": {pane.reason}" if pane.reason else ""
                rows.append(
                    Row(
                        f"pane/{layout.name}/{pane.label}",
                        f"{layout.name}/{pane.label}",
                        layout.name,
                        False,
                        str(pane.state),
                        str(pane.activity),
                        age(pane.created_at, now),
                        str(pane.chain_depth),
                        self.last.get(pane.id, ""),
                        f"{pane.state}{stage}{reason}",
                    )
                )
        return rows


def _event_text(event: dict[str, Any]) -> str:
    """`12:03:04 pane_failed: pane vanished from tmux`: when, what, and its reason if any."""
    kind = str(event.get("event_type", "")).removeprefix(EVENT_PREFIX)
    stamp = str(event.get("timestamp", ""))
    clock = stamp[11:19] if len(stamp) >= 19 else stamp
    payload = event.get("payload") or {}
    why = payload.get("reason") or payload.get("to") or ""
    return f"{clock} {kind}" + (f": {why}" if why else "")


def visible(rows: list[Row], text: str) -> list[Row]:
    """The rows a filter keeps: matching panes with their layout's row, and a matching
    layout with all its panes."""
    if not text.strip():
        return rows
    layouts = {r.layout for r in rows if r.is_layout and r.matches(text)}
    wanted = layouts | {r.layout for r in rows if not r.is_layout and r.matches(text)}
    return [r for r in rows if r.layout in wanted and (r.is_layout or r.layout in layouts or r.matches(text))]
