"""A pure model of what executing a plan does, for planner tests only.

It is not evidence that tmux works (the integration tests are); it lets the planner's
own promise be checked exhaustively: after a plan is carried out, planning again with
the same desired state has nothing left to do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from agenttower.model.lifecycle import State, layout_state
from agenttower.model.resolved import DesiredLayout, DesiredPane
from agenttower.reconcile.actions import (
    CreateLayout,
    CreatePane,
    HoldRestart,
    MarkPane,
    Plan,
    RemovePane,
    ResumePane,
    UpdateLayout,
)
from agenttower.reconcile.plan import Snapshot, current_panes
from agenttower.runtime.observe import Listing, ListingStatus, ObservedPane
from agenttower.store.records import LayoutRecord, PaneRecord

OWNER = "me"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-01-01T12:00:00.000Z"
NEXT_STAMP = "2026-01-01T12:00:00.001Z"  # successors sort after what they replace
_ids = itertools.count(1000)


def layout_record(layout: DesiredLayout, state: str = "ready") -> LayoutRecord:
    return LayoutRecord(
        f"lay_{next(_ids)}",
        layout.name,
        layout.target.key,
        layout.session,
        state,
        {},
        None,
        STAMP,
        STAMP,
        None,
        layout.to_json(),
        layout.fingerprint(),
    )


def pane_record(
    layout_id: str, pane: DesiredPane, slot: int, state: str = "ready", **kw: object
) -> PaneRecord:
    fields: dict[str, object] = dict(
        id=f"pane_{next(_ids)}",
        layout_id=layout_id,
        label=pane.label,
        role=pane.role,
        capability=pane.capability,
        slot=slot,
        state=state,
        failed_stage=None,
        reason=None,
        exit_code=None,
        spec_hash=pane.spec_hash,
        launch={},
        marker_token="tok",
        owner=OWNER,
        tmux_pane_id=None,
        predecessor_id=None,
        chain_depth=0,
        removed_by=None,
        log_path=None,
        created_at=STAMP,
        updated_at=STAMP,
        ready_at=None,
        ended_at=None,
    )
    fields.update(kw)
    return PaneRecord(**fields)  # type: ignore[arg-type]


def observed(record: PaneRecord, session: str, dead: bool = False, owner: str = OWNER) -> ObservedPane:
    return ObservedPane(
        session,
        "$1",
        "@1",
        0,
        record.tmux_pane_id or f"%{next(_ids)}",
        1,
        dead,
        3 if dead else None,
        None,
        None,
        record.id,
        owner,
        "",
        record.spec_hash,
        "t",
    )


def foreign(session: str) -> ObservedPane:
    return ObservedPane(
        session, "$9", "@9", 0, f"%{next(_ids)}", 1, False, None, None, None, "", "", "", "", "user"
    )


@dataclass
class World:
    """Records plus what tmux shows, per target; `apply` plays a plan against it."""

    layouts: list[LayoutRecord]
    panes: list[PaneRecord]
    tmux: dict[str, list[ObservedPane]]
    status: dict[str, ListingStatus]

    def snapshot(self) -> Snapshot:
        live = tuple(rec for rec in self.layouts if rec.state != State.REMOVED)
        ids = {rec.id for rec in live}
        return Snapshot(live, tuple(p for p in self.panes if p.layout_id in ids))

    def listings(self) -> dict[str, Listing]:
        return {
            key: Listing(
                key,
                self.status.get(key, ListingStatus.OK),
                tuple(panes) if self.status.get(key, ListingStatus.OK) == ListingStatus.OK else (),
            )
            for key, panes in self.tmux.items()
        }

    def set_pane(self, pane_id: str, **changes: object) -> PaneRecord:
        index = next(i for i, p in enumerate(self.panes) if p.id == pane_id)
        self.panes[index] = replace(self.panes[index], **changes)  # type: ignore[arg-type]
        return self.panes[index]

    def refresh(self, layout_id: str) -> None:
        states = [p.state for p in current_panes(p for p in self.panes if p.layout_id == layout_id).values()]
        index = next(i for i, rec in enumerate(self.layouts) if rec.id == layout_id)
        self.layouts[index] = replace(self.layouts[index], state=str(layout_state(states)))

    def spawn(self, layout: DesiredLayout, record: PaneRecord) -> None:
        tmux_id = f"%{next(_ids)}"
        ready = self.set_pane(record.id, state="ready", tmux_pane_id=tmux_id)
        self.tmux.setdefault(layout.target.key, []).append(observed(ready, layout.session))

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            if isinstance(action, CreateLayout):
                rec = layout_record(action.layout, "creating")
                self.layouts.append(rec)
                for slot, pane in enumerate(action.layout.panes):
                    record = pane_record(rec.id, pane, slot, "creating")
                    self.panes.append(record)
                    self.spawn(action.layout, record)
                self.refresh(rec.id)
            elif isinstance(action, UpdateLayout):
                index = next(i for i, rec in enumerate(self.layouts) if rec.id == action.layout_id)
                self.layouts[index] = replace(
                    self.layouts[index],
                    resolved=action.layout.to_json(),
                    fingerprint=action.layout.fingerprint(),
                )
            elif isinstance(action, CreatePane):
                if action.replaces:
                    self.set_pane(action.replaces, state="removed", removed_by="controller")
                    for panes in self.tmux.values():
                        panes[:] = [o for o in panes if o.record_id != action.replaces]
                slot = [p.label for p in action.layout.panes].index(action.pane.label)
                record = pane_record(
                    action.layout_id,
                    action.pane,
                    slot,
                    "creating",
                    predecessor_id=action.predecessor_id,
                    chain_depth=action.chain_depth,
                    restarts_in_a_row=action.restarts_in_a_row,
                    created_at=NEXT_STAMP,
                )
                self.panes.append(record)
                self.spawn(action.layout, record)
                self.refresh(action.layout_id)
            elif isinstance(action, ResumePane):
                record = next(p for p in self.panes if p.id == action.pane_id)
                if action.tmux_pane_id:
                    self.set_pane(record.id, state="ready", tmux_pane_id=action.tmux_pane_id)
                else:
                    self.spawn(action.layout, record)
                self.refresh(action.layout_id)
            elif isinstance(action, MarkPane):
                rec = self.set_pane(
                    action.pane_id,
                    state=action.state,
                    failed_stage=action.stage,
                    reason=action.cause,
                    ended_at=STAMP,
                )
                self.refresh(rec.layout_id)
            elif isinstance(action, HoldRestart):
                self.set_pane(action.pane_id, next_restart_at=action.next_restart_at)
            elif isinstance(action, RemovePane):
                rec = self.set_pane(action.pane_id, state="removed", removed_by=action.removed_by)
                for panes in self.tmux.values():
                    panes[:] = [o for o in panes if o.record_id != rec.id]
                self.refresh(rec.layout_id)
