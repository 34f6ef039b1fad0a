"""Recognising agenttower's own panes in a listing, on what a copy cannot have.

Pane options are readable by anyone who can list the server: a pane can copy our owner
id and a record id (`set -p @agenttower_pane ...`). Those options only say which record
a pane *claims* to be; what decides is what only agenttower knows:

- a record that was attached is backed by exactly the tmux pane id it recorded;
- a record that was never attached (a crash between the record and the spawn, or
  between the spawn and the probe) is backed only by a pane in the session agenttower
  created that carries that creation's pending token, a random value kept in SQLite.

Anything else claiming the record is not ours. When two panes both pass (a pane that
copied a token that was visible for an instance), the match is ambiguous: it is
reported and never acted on, so a copy can neither be adopted nor make the real pane
look vanished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agenttower.runtime.observe import ObservedPane
from agenttower.store.records import PaneRecord

Claims = Mapping[str, tuple[ObservedPane, ...]]


@dataclass(frozen=True)
class Match:
    pane: ObservedPane | None = None
    ambiguous: tuple[ObservedPane, ...] = ()

    def describe(self, name: str) -> str:
        ids = ", ".join(p.pane_id for p in self.ambiguous)
        return f"panes {ids} all claim to be {name}: ambiguous, not acting on any of them"


def claims(panes: Iterable[ObservedPane], owner: str) -> dict[str, tuple[ObservedPane, ...]]:
    """Record id -> every pane that says it is that record of this owner."""
    found: dict[str, list[ObservedPane]] = {}
    for pane in panes:
        if pane.owner == owner and pane.record_id:
            found.setdefault(pane.record_id, []).append(pane)
    return {record: tuple(panes) for record, panes in found.items()}


def match(record: PaneRecord, session: str, claimed: Claims) -> Match:
    candidates = claimed.get(record.id, ())
    if record.tmux_pane_id:
        hits = [p for p in candidates if p.pane_id == record.tmux_pane_id]
    else:
        hits = [p for p in candidates if p.pending == record.marker_token and p.session == session]
    if len(hits) == 1:
        return Match(hits[0])
    return Match(None, tuple(hits))
