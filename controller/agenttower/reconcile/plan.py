"""The planner: a pure function of (desired, records, observed, now, settings) to a plan.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is
what `diff` prints and what the property tests drive. Layouts are level-triggered:
the whole desired state is compared on every pass, so a missed event changes nothing.

Every rule of a pass is here: what each target can take (a stopped container, a
listing that did not answer: `targets.py`), capacity, back-off and recovery waves, and
the order the actions run in (`actions.Phase`). The executor runs the plan as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from agenttower.model.agents import Activity
from agenttower.model.constants import PRUNE_ANNOTATION
from agenttower.model.durations import parse_time, rfc3339
from agenttower.model.errors import AgentTowerError, ErrorCode, cannot_observe
from agenttower.model.lifecycle import Actor, Stage, State
from agenttower.model.resolved import DesiredLayout, DesiredPane
from agenttower.runtime.observe import Listing, ObservedPane, Unavailable
from agenttower.settings import Settings
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes

from . import activity
from .actions import (
    Action,
    AgentSession,
    Blocked,
    CrashHold,
    Hold,
    Input,
    Kind,
    Layout,
    Mark,
    Note,
    NoteKind,
    Plan,
    Recovery,
    Removal,
    Resource,
    Settle,
    Spawn,
)
from .conversations import operated_depth, resume_failed, successor
from .identity import Match, claims, match
from .restarts import crash_loop, restart_timing, wants_restart
from .targets import container_not_found, one_server_per_container

CREATIONS = frozenset({Kind.CREATE_LAYOUT, Kind.CREATE_PANE, Kind.RESUME_PANE})
HEALTH = frozenset(
    {Kind.MARK_PANE, Kind.RECORD_SESSION, Kind.SETTLE_PANE, Kind.RESUME_PANE, Kind.RECOVER_LAYOUT}
)


@dataclass(frozen=True)
class Snapshot:
    """The records a pass starts from: live layouts and every pane record they own."""

    layouts: tuple[LayoutRecord, ...] = ()
    panes: tuple[PaneRecord, ...] = ()
    inputs: frozenset[tuple[str, str]] = frozenset()  # (layout id, label): initialInput typed


class Verb(StrEnum):
    """An operator's verb on one pane record."""

    REMOVE = "remove"
    RECREATE = "recreate"
    RESTART = "restart"  # a live pane: removed and replaced in place; else as recreate


@dataclass(frozen=True)
class Operation:
    """An operator's verb on one pane record, planned on its own (nothing else of the
    pass): the rules that decide it (what to kill, where to respawn, the successor's
    depth) are the pass's. `pane` is the slot's spec for a recreate."""

    verb: Verb
    pane_id: str
    pane: DesiredPane | None = None
    fresh: bool = False  # a new conversation (new session id, `command`), not a resume


def resolved_of(rec: LayoutRecord) -> DesiredLayout | None:
    return DesiredLayout.from_json(rec.resolved) if rec.resolved else None


def capacity_error(current: int, limit: int) -> AgentTowerError:
    return AgentTowerError(
        ErrorCode.LAYOUT_CAPACITY_EXCEEDED,
        f"{current} layouts exist or are being created (limit {limit})",
        {"current_count": current, "limit": limit},
    )


def _slot(rec: LayoutRecord, pane: PaneRecord) -> Resource:
    return Resource(rec.target_key, rec.name, pane.label, pane.id)


@dataclass
class _Planner:
    desired: Mapping[str, DesiredLayout]
    snapshot: Snapshot
    observed: Mapping[str, Listing]
    instance_id: str
    now: datetime
    deletes: frozenset[str]
    settings: Settings
    protected: frozenset[str]
    recovery: bool
    outside: frozenset[str] = frozenset()  # another host's layouts: nothing is planned for them
    actions: list[Action] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    requeue: list[datetime] = field(default_factory=list)
    restarts: int = 0  # restarts by policy planned so far in this pass (the wave)
    # what the targets could not take: reported after what the plan itself says
    waits: list[Note] = field(default_factory=list)
    refused: list[Blocked] = field(default_factory=list)
    activity: list[activity.ActivityUpdate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.live = {rec.name: rec for rec in self.snapshot.layouts if rec.state != State.REMOVED}
        self.by_layout: dict[str, list[PaneRecord]] = {}
        self.pane_by_id = {pane.id: pane for pane in self.snapshot.panes}
        for pane in self.snapshot.panes:
            self.by_layout.setdefault(pane.layout_id, []).append(pane)
        self.claims = {key: claims(listing.panes, self.instance_id) for key, listing in self.observed.items()}
        self.sessions = {rec.id: rec.session for rec in self.snapshot.layouts}
        self.conflicts, self.moved = one_server_per_container(self.desired, self.snapshot.layouts)
        self.matches: dict[str, tuple[PaneRecord, str, Match]] = {}  # record id -> the last answer

    # -- helpers ----------------------------------------------------------------------
    def known(self, target_key: str) -> bool:
        listing = self.observed.get(target_key)
        return listing is not None and listing.known

    def matched(self, target_key: str, pane: PaneRecord) -> Match:
        """The tmux pane backing `pane`, on what a copy cannot have (reconcile/identity.py);
        worked out once per pass (a pass asks up to three times per pane)."""
        hit = self.matches.get(pane.id)
        if hit is not None and hit[0] is pane and hit[1] == target_key:
            return hit[2]
        found = match(pane, self.sessions.get(pane.layout_id, ""), self.claims.get(target_key, {}))
        self.matches[pane.id] = (pane, target_key, found)
        return found

    def seen(self, target_key: str, pane: PaneRecord) -> ObservedPane | None:
        return self.matched(target_key, pane).pane

    def ambiguous(self, rec: LayoutRecord, pane: PaneRecord) -> bool:
        """Two panes pass as this record: report it and leave the record and both panes be."""
        found = self.matched(rec.target_key, pane)
        if not found.ambiguous:
            return False
        name = f"{rec.name}/{pane.label}"
        self.notes.append(Note(rec.name, found.describe(name), NoteKind.AMBIGUOUS, pane.label))
        self.handled.add(pane.id)
        return True

    def anchor(self, rec: LayoutRecord) -> str | None:
        for pane in self.by_layout.get(rec.id, []):
            obs = self.seen(rec.target_key, pane) if pane.live else None
            if obs is not None and obs.session == rec.session:
                return obs.pane_id
        return None

    def current(self, rec: LayoutRecord) -> dict[str, PaneRecord]:
        return current_panes(self.by_layout.get(rec.id, []))

    def act(self, action: Action) -> None:
        """Plan `action` if its target can take it: a layout that shares a container's
        server under another user or socket gets nothing; one whose own user or socket
        changed gets health actions only; nothing is spawned on a stopped or missing
        container (a creation it interrupted fails as pane_create, restartable by policy)."""
        layout = action.resource.layout
        if layout in self.conflicts:
            return  # observed on another layout's server: its panes would look vanished
        if layout in self.moved and action.kind not in HEALTH:
            return  # health only, where its panes are (no spec update, no new panes)
        listing = self.observed.get(action.target_key)
        why = listing.unavailable if listing is not None else None
        spawn = action.detail
        if action.kind not in CREATIONS or why is None or not isinstance(spawn, Spawn):
            self.actions.append(action)
        elif action.kind is Kind.CREATE_LAYOUT and why is Unavailable.CONTAINER_MISSING:
            self.refused.append(Blocked(layout, container_not_found(spawn.layout)))
        elif action.kind is Kind.RESUME_PANE:
            cause = f"creation interrupted: {listing.error if listing and listing.error else why}"
            self.actions.append(
                Action(Kind.MARK_PANE, action.resource, cause, Mark(State.FAILED, Stage.PANE_CREATE))
            )
        else:
            state = "does not exist" if why is Unavailable.CONTAINER_MISSING else "is not running"
            target = spawn.layout.target
            where = f" on {target.host}" if target.host else ""
            message = f"container {target.container}{where} {state}: {action.describe()} waits"
            self.waits.append(Note(layout, message, NoteKind.WAITS))

    def mark(self, rec: LayoutRecord, pane: PaneRecord, mark: Mark, cause: str) -> None:
        self.act(Action(Kind.MARK_PANE, _slot(rec, pane), cause, mark))

    def removal(self, rec: LayoutRecord, pane: PaneRecord, cause: str, by: Actor) -> Action:
        obs = self.seen(rec.target_key, pane)
        return Action(Kind.REMOVE_PANE, _slot(rec, pane), cause, Removal(obs.pane_id if obs else None, by))

    def remove(self, rec: LayoutRecord, pane: PaneRecord, cause: str, by: Actor) -> None:
        self.act(self.removal(rec, pane, cause, by))

    # -- the pass ---------------------------------------------------------------------
    def run(self) -> Plan:
        for name in sorted(self.deletes):
            self.remove_layout(name, "deleted by operator", Actor.OPERATOR)
        self.leave_outside()
        capacity_used = len(self.live)
        for name in sorted(self.desired):
            if name in self.deletes:
                continue
            layout = self.desired[name]
            rec = self.live.get(name)
            if rec is None:
                capacity_used += self.create(layout, capacity_used)
            elif layout.suspend:
                if rec.fingerprint != layout.fingerprint():  # record it, so prune sees the suspend
                    self.update_spec(rec, layout)
                self.suspend(rec)
            elif (rec.target_key, rec.session) != (layout.target.key, layout.session):
                self.notes.append(Note(name, "target or session changed: delete and apply to move it"))
            else:
                self.update(layout, rec)
                self.slots(layout, rec)
        self.prune()
        for rec in self.live.values():
            if rec.name in self.outside and rec.name not in self.deletes:
                continue
            if self.recovery and self.known(rec.target_key):
                self.recovered(rec)
            for pane in self.current(rec).values():
                if pane.live and pane.id not in self.handled:
                    self.health(rec, pane)
        return self.finish()

    def finish(self) -> Plan:
        blocked = [*self.blocked, *(Blocked(n, e) for n, e in sorted(self.conflicts.items())), *self.refused]
        notes = [*self.notes]
        notes += [
            Note(name, "spec.target user or socket changed: delete and apply to move it")
            for name in sorted(self.moved)
        ]
        notes += self.waits
        noted = {n.name for n in notes}
        for rec in self.snapshot.layouts:
            listing = self.observed.get(rec.target_key)
            if (
                rec.state != State.REMOVED
                and listing is not None
                and not listing.known
                and rec.name not in noted
            ):
                message = f"target {rec.target_key} unreachable: {listing.error}"
                notes.append(Note(rec.name, message, NoteKind.UNREACHABLE))
        ordered = sorted(self.actions, key=lambda a: a.phase)  # stable: discovery order within a phase
        requeue_at = min(self.requeue) if self.requeue else None
        return Plan(tuple(ordered), tuple(blocked), tuple(notes), requeue_at, tuple(self.activity))

    def leave_outside(self) -> None:
        """Another host's layouts: none is created; a record of one (it moved away since
        it was made here) keeps its panes as they are, unmarked and never pruned, until
        the operator deletes it, and is the one that gets a note: in a shared desired dir
        the other hosts' layouts are the normal case, not news for every pass's log."""
        for name in sorted(self.outside - self.deletes):
            rec = self.live.get(name)
            if rec is None:
                continue
            where = (
                "its target.host is another host's: left to that host's controller; its panes "
                f"here are left as they are (`delete layout {name}` here removes them)"
            )
            self.handled.update(p.id for p in self.by_layout.get(rec.id, []))
            self.notes.append(Note(name, where, NoteKind.OUTSIDE))

    def suspend(self, rec: LayoutRecord) -> None:
        self.notes.append(Note(rec.name, "suspended: no actions", NoteKind.SUSPENDED))
        self.handled.update(p.id for p in self.by_layout.get(rec.id, []))

    def remove_layout(self, name: str, cause: str, removed_by: Actor) -> None:
        rec = self.live.get(name)
        if rec is None:
            return
        if not self.known(rec.target_key):  # never mark removed what may still run
            listing = self.observed.get(rec.target_key)
            why = listing.error if listing else "not observed"
            self.blocked.append(Blocked(name, cannot_observe(rec.target_key, why, f"remove {name}")))
            self.handled.update(p.id for p in self.by_layout.get(rec.id, []))
            return
        for pane in self.current(rec).values():
            if pane.state == State.REMOVED:
                continue
            full = f"{name}/{pane.label}"
            found = self.matched(rec.target_key, pane)
            if found.ambiguous:  # what to kill is not certain: kill nothing of this slot
                error = AgentTowerError(
                    ErrorCode.INTERNAL_ERROR, f"cannot remove {full}: {found.describe(full)}"
                )
                self.blocked.append(Blocked(name, error))
                self.handled.add(pane.id)
                continue
            obs = found.pane
            self.handled.add(pane.id)
            if pane.state == State.CREATING:
                stage = Stage.REGISTRATION if obs else Stage.PANE_CREATE
                if pane.ready_by is not None:  # spawned, not ready yet
                    stage = Stage.READINESS
                self.mark(rec, pane, Mark(State.FAILED, stage), f"creation interrupted; {cause}")
            self.remove(rec, pane, cause, removed_by)

    def prune(self) -> None:
        gone = [
            rec
            for name, rec in sorted(self.live.items())
            if name not in self.desired
            and name not in self.protected
            and name not in self.deletes
            and name not in self.outside
        ]
        if not gone:
            return
        if not self.desired and not self.protected and not self.settings.loop.allow_empty:
            names = ", ".join(rec.name for rec in gone)
            self.notes.append(
                Note(
                    None,
                    f"refusing to prune every layout ({names}): the desired dir is "
                    "empty, missing or mid-checkout (--allow-empty to allow)",
                    NoteKind.KEPT,
                )
            )
            return
        for rec in gone:
            resolved = resolved_of(rec)
            if resolved and resolved.annotation(PRUNE_ANNOTATION) == "disabled":
                message = f"manifest removed; kept ({PRUNE_ANNOTATION}: disabled)"
                self.notes.append(Note(rec.name, message, NoteKind.KEPT))
            elif resolved and resolved.suspend:
                self.suspend(rec)
            else:
                self.remove_layout(rec.name, "manifest removed", Actor.CONTROLLER)

    def create(self, layout: DesiredLayout, used: int) -> int:
        key = layout.target.key
        listing = self.observed.get(key)
        if listing is None or not listing.known:
            reason = listing.error if listing else "not observed"
            self.notes.append(Note(layout.name, f"target {key} unreachable: {reason}", NoteKind.UNREACHABLE))
            return 0
        if layout.suspend:
            self.notes.append(Note(layout.name, "suspended: not created", NoteKind.SUSPENDED))
            return 0
        if layout.session in listing.sessions():
            self.blocked.append(
                Blocked(
                    layout.name,
                    AgentTowerError(
                        ErrorCode.SESSION_NAME_CONFLICT,
                        f"tmux session {layout.session!r} already exists on {key} and is not this layout's",
                        {"container_id": key, "tmux_session_name": layout.session},
                        layout.source,
                    ),
                )
            )
            return 0
        if used >= self.settings.panes.capacity:
            self.blocked.append(Blocked(layout.name, capacity_error(used, self.settings.panes.capacity)))
            return 0
        resource = Resource(key, layout.name)
        self.act(Action(Kind.CREATE_LAYOUT, resource, "layout missing", Spawn(layout, None, layout.panes)))
        return 1

    def update_spec(self, rec: LayoutRecord, layout: DesiredLayout) -> None:
        resource = Resource(layout.target.key, layout.name, None, rec.id)
        self.act(Action(Kind.UPDATE_LAYOUT, resource, "spec changed", Layout(spec=layout)))

    def update(self, layout: DesiredLayout, rec: LayoutRecord) -> None:
        if rec.fingerprint == layout.fingerprint():
            return
        self.update_spec(rec, layout)
        old = resolved_of(rec)
        anchor = self.anchor(rec)
        if layout.tmux_layout and anchor and (old is None or old.tmux_layout != layout.tmux_layout):
            change = Layout(anchor=anchor, tmux_layout=layout.tmux_layout)
            self.act(
                Action(Kind.RELAYOUT, Resource(rec.target_key, layout.name), "tmuxLayout changed", change)
            )

    def slots(self, layout: DesiredLayout, rec: LayoutRecord) -> None:
        current = self.current(rec)
        wanted = {p.label for p in layout.panes}
        anchor = self.anchor(rec)
        known = self.known(rec.target_key)
        for pane in layout.panes:
            cur = current.get(pane.label)
            if cur is not None and cur.state == State.CREATING:
                continue  # health() resumes or sweeps it
            if cur is not None and cur.live and self.ambiguous(rec, cur):
                continue
            if cur is None or (cur.state == State.REMOVED and cur.removed_by != Actor.OPERATOR):
                if known:
                    cause = "pane missing" if cur is None else "pane slot back in the manifest"
                    resource = Resource(layout.target.key, layout.name, pane.label)
                    spawn = Spawn(layout, rec.id, (pane,), anchor)
                    self.act(Action(Kind.CREATE_PANE, resource, cause, spawn))
            elif cur.state == State.REMOVED:
                message = "removed by operator (recreate pane to restore)"
                self.notes.append(Note(layout.name, message, label=pane.label))
            elif known and resume_failed(cur):
                self.fall_back(layout, rec, cur, anchor)
            elif known and wants_restart(layout.restart_policy, cur):
                self.restart(layout, rec, cur, anchor)
            elif cur.live and cur.spec_hash != pane.spec_hash:
                self.outdated(layout, rec, cur, anchor)
            elif known and pane.initial_input and (rec.id, pane.label) not in self.snapshot.inputs:
                self.initial_input(rec, cur, pane.initial_input)
        for label, cur in sorted(current.items()):
            if cur.state not in (State.CREATING, State.REMOVED) and label not in wanted:
                self.handled.add(cur.id)
                self.remove(rec, cur, "pane no longer in manifest", Actor.CONTROLLER)

    def restart(self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord, anchor: str | None) -> None:
        if self.crash_looping(layout, rec, cur):
            return
        timing = restart_timing(cur, self.settings.restarts)
        limit = self.settings.panes.chain_limit
        if timing.depth > limit:
            reason = f"restart limit reached ({limit} restarts in a row)"
            self.handled.add(cur.id)
            self.notes.append(Note(layout.name, reason, NoteKind.RESTART_LIMIT, cur.label))
            if cur.state != State.FAILED:  # a failed pane stays as it is: nothing left to do
                self.mark(rec, cur, Mark(State.FAILED, cur.failed_stage or Stage.LAUNCH_COMMAND), reason)
            return
        if timing.due is not None and timing.held(self.now):
            due = rfc3339(timing.due)
            self.requeue.append(timing.due)
            note = Note(layout.name, f"back-off: restart at {due}", NoteKind.BACKOFF, cur.label, timing.due)
            self.notes.append(note)
            if cur.next_restart_at != due:
                delay_ms = int(timing.delay.total_seconds() * 1000)
                hold = Hold(due, timing.restarts_in_a_row, delay_ms)
                self.act(Action(Kind.HOLD_RESTART, _slot(rec, cur), "back-off", hold))
            return
        if self.restarts >= self.settings.restarts.recovery_wave:  # layouts, then panes, in order
            self.handled.add(cur.id)
            message = "restart waits for the next recovery wave"
            self.notes.append(Note(layout.name, message, NoteKind.WAVE, cur.label))
            return
        self.restarts += 1
        cause = f"restartPolicy {layout.restart_policy}: {cur.reason or cur.state}"
        self.replace(layout, rec, cur, anchor, cause, timing.depth, timing.restarts_in_a_row + 1)

    def initial_input(self, rec: LayoutRecord, cur: PaneRecord, text: str) -> None:
        """A slot's first task, typed once it has been ready for a moment (an agent that
        just started may not read its terminal yet) and, when its hooks report activity,
        once they say idle (the pane option they set, read with the listing); never again
        for the slot."""
        obs = self.seen(rec.target_key, cur)
        if cur.state != State.READY or not cur.ready_at or obs is None or obs.dead:
            return
        if obs.activity and obs.activity != Activity.IDLE:
            return  # its hooks report it busy or waiting (a login, a trust question): not yet
        due = parse_time(cur.ready_at) + self.settings.send.initial_delay
        if due > self.now:
            self.requeue.append(due)
            return
        action = Action(Kind.SEND_INPUT, _slot(rec, cur), "initialInput", Input(obs.pane_id, text))
        self.act(action)

    def crash_looping(self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord) -> bool:
        """The same failure as its predecessor's: no restart until the operator acts
        (`recreate`, or a manifest change of this pane). Failed, so `recreate` takes it;
        the hold is recorded (and announced) once."""
        desired = layout.pane(cur.label)
        if desired is not None and desired.spec_hash != cur.spec_hash:
            return False  # the manifest changed: that is the operator acting
        pred = self.pane_by_id.get(cur.predecessor_id or "")
        loop = crash_loop(cur, pred, self.settings.restarts)
        if loop is None:
            return False
        self.handled.add(cur.id)
        self.notes.append(Note(layout.name, loop.reason, NoteKind.CRASH_LOOP, cur.label))
        if cur.state != State.FAILED:
            self.mark(rec, cur, Mark(State.FAILED, Stage.LAUNCH_COMMAND, cur.exit_code), loop.reason)
        if cur.crash_loop is None:
            hold = CrashHold(loop.reason, loop.exit_code, loop.last_line)
            self.act(Action(Kind.HOLD_CRASH_LOOP, _slot(rec, cur), "crash loop", hold))
        return True

    def fall_back(
        self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord, anchor: str | None
    ) -> None:
        """A resume that exited at once (no such conversation, say) is followed by the
        profile's `command`, whatever the restart policy, at once and at the same depth
        and count: the restart that tried the resume already counted."""
        cause = "resume exited at once: falling back to command"
        self.replace(layout, rec, cur, anchor, cause, cur.chain_depth, cur.restarts_in_a_row)

    def outdated(self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord, anchor: str | None) -> None:
        if layout.update_strategy != "Recreate":
            message = "outdated: spec changed (updateStrategy OnDelete)"
            self.notes.append(Note(layout.name, message, NoteKind.OUTDATED, cur.label))
            return
        if not self.known(rec.target_key):
            return
        self.replace(layout, rec, cur, anchor, "spec changed (updateStrategy Recreate)", 0)

    def replace(
        self,
        layout: DesiredLayout,
        rec: LayoutRecord,
        cur: PaneRecord,
        anchor: str | None,
        cause: str,
        depth: int,
        restarts_in_a_row: int = 0,
    ) -> None:
        """A successor for `cur` (removed first), reusing its tmux pane in place if it is still there."""
        obs = self.seen(rec.target_key, cur)
        pane = layout.pane(cur.label)
        assert pane is not None
        self.handled.add(cur.id)
        spawn = Spawn(
            layout,
            rec.id,
            (pane,),
            anchor,
            predecessor_id=cur.id,
            chain_depth=depth,
            restarts_in_a_row=restarts_in_a_row,
            replaces=cur.id,
            respawn=obs.pane_id if obs else None,
            conversation=successor(cur, pane.launch),
        )
        resource = Resource(rec.target_key, layout.name, cur.label)
        self.act(Action(Kind.CREATE_PANE, resource, cause, spawn, depends_on=(_slot(rec, cur),)))

    def recovered(self, rec: LayoutRecord) -> None:
        found = tuple(
            p.id
            for p in self.current(rec).values()
            if p.live and p.state != State.CREATING and self.seen(rec.target_key, p)
        )
        if found:
            resource = Resource(rec.target_key, rec.name, None, rec.id)
            self.act(Action(Kind.RECOVER_LAYOUT, resource, "recovery", Recovery(found)))

    def health(self, rec: LayoutRecord, pane: PaneRecord) -> None:
        if not self.known(rec.target_key):
            return
        if self.ambiguous(rec, pane):
            return
        obs = self.seen(rec.target_key, pane)
        self.watch(rec, pane, obs)
        if pane.state == State.CREATING:
            self.creating(rec, pane, obs)
        elif obs is None:
            self.mark(rec, pane, Mark(State.FAILED, Stage.RECOVERY_REATTACH), "pane vanished from tmux")
        elif obs.dead and (pane.state == State.READY or pane.failed_stage != Stage.LAUNCH_COMMAND):
            # a degraded pane (say, for its log) whose process exits is restaged, not re-stated
            exited = Mark(State.DEGRADED, Stage.LAUNCH_COMMAND, obs.dead_status, obs.dead_signal, obs.pane_id)
            self.mark(rec, pane, exited, f"process {obs.exit_description}")
        elif obs.pending:
            action = Action(
                Kind.SETTLE_PANE, _slot(rec, pane), "pending marker left set", Settle(obs.pane_id)
            )
            self.act(action)
        if obs is not None and obs.agent_session and obs.agent_session != pane.agent_session_id:
            reported = AgentSession(obs.agent_session)
            self.act(Action(Kind.RECORD_SESSION, _slot(rec, pane), "reported by the agent", reported))

    def watch(self, rec: LayoutRecord, pane: PaneRecord, obs: ObservedPane | None) -> None:
        """What the agent does now (its hook, its screen), recorded when it changed; a
        watched pane is looked at again one screen period from now."""
        if pane.state == State.CREATING and pane.ready_by is None:
            return  # still being spawned: nothing runs there to watch yet
        launch = activity.launch_of(self.desired, rec, pane)
        if obs is None or obs.dead:
            verdict: activity.Verdict | None = activity.STOPPED
        elif launch is None:
            return
        else:
            screen = self.observed[rec.target_key].screens.get(obs.pane_id)
            verdict = activity.judge(launch, obs, screen, pane)
            if launch.watched:
                self.requeue.append(self.now + timedelta(seconds=self.settings.agents.screen_period))
        if verdict is activity.STOPPED and pane.activity is Activity.UNKNOWN:
            return  # nothing was known of it: its end is no news
        if verdict is not None and verdict.differs(pane):
            update = activity.ActivityUpdate(pane.id, rec.name, pane.label, verdict, pane.activity)
            self.activity.append(update)

    def readiness(self, rec: LayoutRecord, pane: PaneRecord, obs: ObservedPane | None) -> None:
        """The pipeline's last stage: `ready` once the readiness prompt shows, `degraded`
        / `readiness` when a screen read at or after the deadline still does not show it."""
        assert pane.ready_by is not None
        launch = activity.launch_of(self.desired, rec, pane)
        if obs is None:
            self.mark(rec, pane, Mark(State.FAILED, Stage.RECOVERY_REATTACH), "pane vanished from tmux")
            return
        if obs.dead:
            exited = Mark(State.DEGRADED, Stage.LAUNCH_COMMAND, obs.dead_status, obs.dead_signal)
            self.mark(rec, pane, exited, f"process {obs.exit_description} before it was ready")
            return
        probe = launch.readiness if launch is not None else None
        screen = self.observed[rec.target_key].screens.get(obs.pane_id)
        if launch is None or probe is None:
            self.mark(rec, pane, Mark(State.READY, None), "no readiness probe any more")
            return
        if screen is not None and activity.is_ready(launch, screen):
            self.mark(rec, pane, Mark(State.READY, None), "readiness probe matched")
            return
        deadline = parse_time(pane.ready_by)
        if screen is None or self.now < deadline:
            self.requeue.append(deadline)
            return
        why = f"readiness: no {probe.pattern!r} on screen within {probe.timeout:g}s"
        what = activity.shown(launch, screen)
        self.mark(rec, pane, Mark(State.DEGRADED, Stage.READINESS), why + (f" ({what})" if what else ""))

    def creating(self, rec: LayoutRecord, pane: PaneRecord, obs: ObservedPane | None) -> None:
        if pane.ready_by is not None and rec.name not in self.deletes:
            self.readiness(rec, pane, obs)
            return
        layout = self.desired.get(rec.name)
        expired = self.now - parse_time(pane.created_at) >= self.settings.panes.creating_ttl
        # its slot may have left the manifest while it was being created (or a concurrent
        # reader took the desired dir from before the apply that recorded it)
        slot = layout.pane(pane.label) if layout is not None else None
        if expired or layout is None or slot is None or rec.name in self.deletes:
            stage = Stage.REGISTRATION if obs else Stage.PANE_CREATE
            cause = "still creating after the pending-marker TTL" if expired else "creation interrupted"
            self.mark(rec, pane, Mark(State.FAILED, stage), cause)
            return
        spawn = Spawn(layout, rec.id, (slot,), self.anchor(rec), tmux_pane_id=obs.pane_id if obs else None)
        self.act(Action(Kind.RESUME_PANE, _slot(rec, pane), "creation interrupted", spawn))

    # -- an operator's verb -----------------------------------------------------------
    def operate(self, operations: Iterable[Operation]) -> Plan:
        """Only the verbs asked for, on the records they name; a target that cannot be
        observed blocks the verb (an unknown listing never decides what to kill)."""
        layouts = {rec.id: rec for rec in self.snapshot.layouts}
        panes = {p.id: p for p in self.snapshot.panes}
        for op in operations:
            pane = panes[op.pane_id]
            rec = layouts[pane.layout_id]
            if not self.known(rec.target_key):
                listing = self.observed.get(rec.target_key)
                why = listing.error if listing is not None else None
                self.blocked.append(Blocked(rec.name, cannot_observe(rec.target_key, why)))
                continue
            if op.verb is Verb.REMOVE:
                self.actions.append(self.removal(rec, pane, "removed by operator", Actor.OPERATOR))
                continue
            spec = self.desired[rec.name]
            assert op.pane is not None
            dead = self.seen(rec.target_key, pane)
            restart = op.verb is Verb.RESTART
            talk = successor(pane, op.pane.launch, op.fresh)
            spawn = Spawn(
                spec,
                rec.id,
                (op.pane,),
                self.anchor(rec),
                predecessor_id=pane.id,
                chain_depth=operated_depth(pane, talk, self.settings.restarts, self.now),
                replaces=pane.id if restart and pane.live else None,
                respawn=dead.pane_id if dead else None,
                removed_by=Actor.OPERATOR,
                conversation=talk,
            )
            resource = Resource(rec.target_key, rec.name, pane.label)
            cause = f"{'restarted' if restart else 'recreated'} by operator{' (fresh)' if op.fresh else ''}"
            if talk.fell_back:
                cause = "resume exited at once: falling back to command"
            self.actions.append(
                Action(Kind.CREATE_PANE, resource, cause, spawn, depends_on=(_slot(rec, pane),))
            )
        return Plan(tuple(self.actions), tuple(self.blocked))


def plan(
    desired: Mapping[str, DesiredLayout],
    snapshot: Snapshot,
    observed: Mapping[str, Listing],
    instance_id: str,
    now: datetime,
    deletes: Iterable[str] = (),
    settings: Settings | None = None,
    protected: Iterable[str] = (),
    recovery: bool = False,
    operations: Iterable[Operation] = (),
    outside: Iterable[str] = (),
) -> Plan:
    """The plan of one pass (or, with `operations`, of those operator verbs alone).
    `outside`: layouts of the desired dir that are not this reconciler's (selection.py)."""
    planner = _Planner(
        desired,
        snapshot,
        observed,
        instance_id,
        now,
        frozenset(deletes),
        settings or Settings(),
        frozenset(protected),
        recovery,
        frozenset(outside),
    )
    operations = tuple(operations)
    return planner.operate(operations) if operations else planner.run()
