"""A pure model of what executing a plan does, for planner tests only.

It is not evidence that tmux works (the integration tests are); it lets the planner's
own promise be checked exhaustively: after a plan is carried out, planning again with
the same desired state has nothing left to do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from agenttower.model.lifecycle import Actor, State, layout_state
from agenttower.model.resolved import DesiredLayout, DesiredPane
from agenttower.reconcile.actions import CrashHold, Hold, Kind, Layout, Mark, Plan, Removal, Spawn
from agenttower.reconcile.plan import Snapshot
from agenttower.runtime.observe import Listing, ListingStatus, ObservedPane, Unavailable
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes

OWNER = "me"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-01-01T12:00:00.000Z"
NEXT_STAMP = "2026-01-01T12:00:00.001Z"  # successors sort after what they replace
_ids = itertools.count(1000)


def layout_record(layout: DesiredLayout, state: State = State.READY) -> LayoutRecord:
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
    layout_id: str, pane: DesiredPane, slot: int, state: State = State.READY, **kw: object
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


def observed(
    record: PaneRecord, session: str, dead: bool = False, owner: str = OWNER, activity: str = ""
) -> ObservedPane:
    return ObservedPane(
        session=session,
        window_id="@1",
        pane_index=0,
        pane_id=record.tmux_pane_id or f"%{next(_ids)}",
        pid=1,
        dead=dead,
        dead_status=3 if dead else None,
        dead_signal=None,
        record_id=record.id,
        owner=owner,
        pending="",
        spec_hash=record.spec_hash,
        activity=activity,
        server_pid=None,
        agent_session=record.agent_session_id or "",
        title="t",
    )


def foreign(session: str) -> ObservedPane:
    return ObservedPane(
        session=session,
        window_id="@9",
        pane_index=0,
        pane_id=f"%{next(_ids)}",
        pid=1,
        dead=False,
        dead_status=None,
        dead_signal=None,
        record_id="",
        owner="",
        pending="",
        spec_hash="",
        activity="",
        server_pid=None,
        agent_session="",
        title="user",
    )


def conversation_of(spawn: Spawn) -> dict[str, object]:
    """The conversation facts a successor's record gets (the store makes a new id when None)."""
    talk = spawn.conversation
    if talk is None:
        return {"session_id": f"new-{next(_ids)}"}
    return {
        "session_id": talk.session_id or f"new-{next(_ids)}",
        "agent_session_id": talk.agent_session_id,
        "resumed_from": talk.resume_id if spawn.panes[0].launch.resume is not None else None,
    }


@dataclass
class World:
    """Records plus what tmux shows, per target; `apply` plays a plan against it. A
    target in `unavailable` is a stopped or missing container: confidently empty, and
    nothing can be spawned there (a creation planned on it would be a planner bug)."""

    layouts: list[LayoutRecord]
    panes: list[PaneRecord]
    tmux: dict[str, list[ObservedPane]]
    status: dict[str, ListingStatus]
    unavailable: dict[str, Unavailable] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        live = tuple(rec for rec in self.layouts if rec.state != State.REMOVED)
        ids = {rec.id for rec in live}
        return Snapshot(live, tuple(p for p in self.panes if p.layout_id in ids))

    def listings(self) -> dict[str, Listing]:
        listings = {}
        for key, panes in self.tmux.items():
            why = self.unavailable.get(key)
            status = ListingStatus.EMPTY if why else self.status.get(key, ListingStatus.OK)
            shown = tuple(panes) if status == ListingStatus.OK else ()
            error = "listing failed" if status is not ListingStatus.OK else None
            listings[key] = Listing(key, status, shown, error, why)
        return listings

    def set_pane(self, pane_id: str, **changes: object) -> PaneRecord:
        index = next(i for i, p in enumerate(self.panes) if p.id == pane_id)
        self.panes[index] = replace(self.panes[index], **changes)  # type: ignore[arg-type]
        return self.panes[index]

    def refresh(self, layout_id: str) -> None:
        states = [p.state for p in current_panes(p for p in self.panes if p.layout_id == layout_id).values()]
        index = next(i for i, rec in enumerate(self.layouts) if rec.id == layout_id)
        self.layouts[index] = replace(self.layouts[index], state=layout_state(states))

    def spawn(self, layout: DesiredLayout, record: PaneRecord) -> None:
        assert layout.target.key not in self.unavailable, "spawned on a target that cannot take panes"
        tmux_id = f"%{next(_ids)}"
        ready = self.set_pane(record.id, state=State.READY, tmux_pane_id=tmux_id)
        self.tmux.setdefault(layout.target.key, []).append(observed(ready, layout.session))

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            d, pane_id = action.detail, action.resource.id
            if action.kind is Kind.CREATE_LAYOUT and isinstance(d, Spawn):
                rec = layout_record(d.layout, State.CREATING)
                self.layouts.append(rec)
                for slot, pane in enumerate(d.layout.panes):
                    record = pane_record(rec.id, pane, slot, State.CREATING)
                    self.panes.append(record)
                    self.spawn(d.layout, record)
                self.refresh(rec.id)
            elif isinstance(d, Layout) and d.spec is not None:
                index = next(i for i, rec in enumerate(self.layouts) if rec.id == pane_id)
                self.layouts[index] = replace(
                    self.layouts[index], resolved=d.spec.to_json(), fingerprint=d.spec.fingerprint()
                )
            elif action.kind is Kind.CREATE_PANE and isinstance(d, Spawn) and d.layout_id:
                if d.replaces:
                    self.set_pane(d.replaces, state=State.REMOVED, removed_by=Actor.CONTROLLER)
                    for panes in self.tmux.values():
                        panes[:] = [o for o in panes if o.record_id != d.replaces]
                slot = [p.label for p in d.layout.panes].index(d.panes[0].label)
                record = pane_record(
                    d.layout_id,
                    d.panes[0],
                    slot,
                    State.CREATING,
                    predecessor_id=d.predecessor_id,
                    chain_depth=d.chain_depth,
                    restarts_in_a_row=d.restarts_in_a_row,
                    created_at=NEXT_STAMP,
                    **conversation_of(d),
                )
                self.panes.append(record)
                self.spawn(d.layout, record)
                self.refresh(d.layout_id)
            elif action.kind is Kind.RESUME_PANE and isinstance(d, Spawn) and d.layout_id:
                record = next(p for p in self.panes if p.id == pane_id)
                if d.tmux_pane_id:
                    self.set_pane(record.id, state=State.READY, tmux_pane_id=d.tmux_pane_id)
                else:
                    self.spawn(d.layout, record)
                self.refresh(d.layout_id)
            elif isinstance(d, Mark) and pane_id:
                rec = self.set_pane(
                    pane_id, state=d.state, failed_stage=d.stage, reason=action.cause, ended_at=STAMP
                )
                self.refresh(rec.layout_id)
            elif isinstance(d, Hold) and pane_id:
                self.set_pane(pane_id, next_restart_at=d.next_restart_at)
            elif isinstance(d, CrashHold) and pane_id:
                self.set_pane(pane_id, crash_loop=d.reason)
            elif isinstance(d, Removal) and pane_id:
                rec = self.set_pane(pane_id, state=State.REMOVED, removed_by=d.removed_by)
                for panes in self.tmux.values():
                    panes[:] = [o for o in panes if o.record_id != rec.id]
                self.refresh(rec.layout_id)
