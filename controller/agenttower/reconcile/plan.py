"""The planner: a pure function of (desired, records, observed, now) to actions.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is
what `diff` prints and what the property tests drive. Layouts are level-triggered:
the whole desired state is compared on every pass, so a missed event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agenttower.model.constants import PRUNE_ANNOTATION
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import DesiredLayout
from agenttower.runtime.observe import Listing, ObservedPane
from agenttower.store.records import LayoutRecord, PaneRecord
from agenttower.store.repo import rfc3339

from .actions import (
    Action,
    Blocked,
    CreateLayout,
    CreatePane,
    HoldRestart,
    MarkPane,
    Note,
    NoteKind,
    Plan,
    Recovered,
    Relayout,
    RemovePane,
    ResumePane,
    SettlePane,
    UpdateLayout,
)
from .identity import Match, claims, match

OPERATOR = "operator"
CONTROLLER = "controller"
RESTARTABLE = frozenset(
    {Stage.LAUNCH_COMMAND, Stage.RECOVERY_REATTACH, Stage.PANE_CREATE, Stage.REGISTRATION}
)


@dataclass(frozen=True)
class PlanSettings:
    creating_ttl: timedelta = timedelta(minutes=5)
    capacity: int = 40
    backoff_base: timedelta = timedelta(seconds=10)
    backoff_max: timedelta = timedelta(minutes=5)
    stable_after: timedelta = timedelta(minutes=10)  # ready this long: the crash count restarts
    chain_limit: int = 16
    allow_empty: bool = False  # may a pass prune every layout?
    # restarts by policy in one pass: after a mass death (kill-server, a reboot, a container
    # restart) the agents come back in waves, each verified by its launch probe before the
    # next pass starts the next one, so a dozen agents do not hit their provider at once
    recovery_wave: int = 10


@dataclass(frozen=True)
class Snapshot:
    """The records a pass starts from: live layouts and every pane record they own."""

    layouts: tuple[LayoutRecord, ...] = ()
    panes: tuple[PaneRecord, ...] = ()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def current_panes(panes: Iterable[PaneRecord]) -> dict[str, PaneRecord]:
    """label -> the record that speaks for that slot now (live first, else the newest)."""
    current: dict[str, PaneRecord] = {}
    for pane in sorted(panes, key=lambda p: (p.created_at, p.id)):
        held = current.get(pane.label)
        if held is None or not held.live:
            current[pane.label] = pane
    return current


def stayed_ready(pane: PaneRecord, settings: PlanSettings) -> bool:
    """Ready for the stability window before it ended: its crash is not part of a loop."""
    if not pane.ready_at or not pane.ended_at:
        return False
    return parse_time(pane.ended_at) - parse_time(pane.ready_at) >= settings.stable_after


def next_depth(pane: PaneRecord, settings: PlanSettings) -> int:
    """A successor's chain depth: +1, or 0 after a predecessor that stayed ready long enough."""
    return 0 if stayed_ready(pane, settings) else pane.chain_depth + 1


def backoff_delay(restarts_in_a_row: int, settings: PlanSettings) -> timedelta:
    """Kubelet's shape for agents: the first restart after a stable run is immediate
    (an agent that crashed once should be back before anyone notices); only a loop
    waits, base * 2^(n-1) for the restart after n in a row, capped."""
    if restarts_in_a_row <= 0:
        return timedelta(0)
    delay = settings.backoff_base
    for _ in range(min(restarts_in_a_row - 1, 64)):  # doubling stops at the cap: no overflow
        if delay >= settings.backoff_max:
            break
        delay *= 2
    return min(delay, settings.backoff_max)


@dataclass(frozen=True)
class RestartTiming:
    """When a restart by policy of an ended pane may happen, and what its successor is."""

    depth: int  # the successor's chain depth (FEAT-013's limit counts it)
    restarts_in_a_row: int  # restarts already made since the slot last ran stably
    delay: timedelta
    due: datetime | None  # ended + delay; None: no end recorded, nothing to wait for

    def held(self, now: datetime) -> bool:
        return self.due is not None and self.due > now


def restart_timing(pane: PaneRecord, settings: PlanSettings) -> RestartTiming:
    """A pane that stayed ready for the stability window starts its slot's count over
    (restart at once, successor at depth 0); any other counts one more in a row."""
    stable = stayed_ready(pane, settings)
    n = 0 if stable else pane.restarts_in_a_row
    delay = backoff_delay(n, settings)
    due = parse_time(pane.ended_at) + delay if pane.ended_at else None
    return RestartTiming(next_depth(pane, settings), n, delay, due)


def wants_restart(policy: str, pane: PaneRecord) -> bool:
    if policy == "Never" or pane.failed_stage not in RESTARTABLE:
        return False
    if pane.state == State.DEGRADED and pane.failed_stage != Stage.LAUNCH_COMMAND:
        return False  # degraded for its log only: the agent still runs
    if pane.state not in (State.DEGRADED, State.FAILED):
        return False
    return not (policy == "OnFailure" and pane.failed_stage == Stage.LAUNCH_COMMAND and pane.exit_code == 0)


def held_until(policy: str, pane: PaneRecord, settings: PlanSettings) -> str | None:
    """When back-off lets the restart of `pane` happen, as `get` shows it: None when no
    restart is wanted, the restart limit ended the chain, or the restart is immediate.
    What the controller recorded wins (it may run with other settings than the reader)."""
    if not wants_restart(policy, pane):
        return None
    timing = restart_timing(pane, settings)
    if timing.depth > settings.chain_limit or timing.delay <= timedelta(0) or timing.due is None:
        return None
    return pane.next_restart_at or rfc3339(timing.due)


def resolved_of(rec: LayoutRecord) -> DesiredLayout | None:
    return DesiredLayout.from_json(rec.resolved) if rec.resolved else None


@dataclass
class _Planner:
    desired: Mapping[str, DesiredLayout]
    snapshot: Snapshot
    observed: Mapping[str, Listing]
    instance_id: str
    now: datetime
    deletes: frozenset[str]
    settings: PlanSettings
    protected: frozenset[str]
    recovery: bool
    actions: list[Action] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    requeue: list[datetime] = field(default_factory=list)
    restarts: int = 0  # restarts by policy planned so far in this pass (the wave)

    def __post_init__(self) -> None:
        self.live = {rec.name: rec for rec in self.snapshot.layouts if rec.state != State.REMOVED}
        self.by_layout: dict[str, list[PaneRecord]] = {}
        for pane in self.snapshot.panes:
            self.by_layout.setdefault(pane.layout_id, []).append(pane)
        self.claims = {key: claims(listing.panes, self.instance_id) for key, listing in self.observed.items()}
        self.sessions = {rec.id: rec.session for rec in self.snapshot.layouts}
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

    def ambiguous(self, target_key: str, pane: PaneRecord, name: str) -> bool:
        """Two panes pass as this record: report it and leave the record and both panes be."""
        found = self.matched(target_key, pane)
        if not found.ambiguous:
            return False
        self.notes.append(Note(name, found.describe(name)))
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

    # -- the pass ---------------------------------------------------------------------
    def run(self) -> Plan:
        for name in sorted(self.deletes):
            self.remove_layout(name, "deleted by operator", OPERATOR)
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
                    self.actions.append(UpdateLayout(rec.id, layout))
                self.suspend(rec)
            elif (rec.target_key, rec.session) != (layout.target.key, layout.session):
                self.notes.append(Note(name, "target or session changed: delete and apply to move it"))
            else:
                self.update(layout, rec)
                self.slots(layout, rec)
        self.prune()
        for rec in self.live.values():
            if self.recovery and self.known(rec.target_key):
                self.recovered(rec)
            for pane in self.current(rec).values():
                if pane.live and pane.id not in self.handled:
                    self.health(rec, pane)
        requeue_at = min(self.requeue) if self.requeue else None
        return Plan(tuple(self.actions), tuple(self.blocked), tuple(self.notes), requeue_at)

    def suspend(self, rec: LayoutRecord) -> None:
        self.notes.append(Note(rec.name, "suspended: no actions"))
        self.handled.update(p.id for p in self.by_layout.get(rec.id, []))

    def remove_layout(self, name: str, cause: str, removed_by: str) -> None:
        rec = self.live.get(name)
        if rec is None:
            return
        if not self.known(rec.target_key):  # never mark removed what may still run
            listing = self.observed.get(rec.target_key)
            why = listing.error if listing else "not observed"
            self.blocked.append(
                Blocked(
                    name,
                    AgentTowerError(
                        ErrorCode.INTERNAL_ERROR,
                        f"cannot observe target {rec.target_key} to remove {name}: {why}",
                    ),
                )
            )
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
            obs = self.seen(rec.target_key, pane)
            self.handled.add(pane.id)
            if pane.state == State.CREATING:
                stage = Stage.REGISTRATION if obs else Stage.PANE_CREATE
                self.actions.append(
                    MarkPane(
                        pane.id, full, rec.target_key, State.FAILED, stage, f"creation interrupted; {cause}"
                    )
                )
            self.actions.append(
                RemovePane(pane.id, full, rec.target_key, obs.pane_id if obs else None, cause, removed_by)
            )

    def prune(self) -> None:
        gone = [
            rec
            for name, rec in sorted(self.live.items())
            if name not in self.desired and name not in self.protected and name not in self.deletes
        ]
        if not gone:
            return
        if not self.desired and not self.protected and not self.settings.allow_empty:
            names = ", ".join(rec.name for rec in gone)
            self.notes.append(
                Note(
                    "*",
                    f"refusing to prune every layout ({names}): the desired dir is "
                    "empty, missing or mid-checkout (--allow-empty to allow)",
                )
            )
            return
        for rec in gone:
            resolved = resolved_of(rec)
            if resolved and resolved.annotation(PRUNE_ANNOTATION) == "disabled":
                self.notes.append(Note(rec.name, f"manifest removed; kept ({PRUNE_ANNOTATION}: disabled)"))
            elif resolved and resolved.suspend:
                self.suspend(rec)
            else:
                self.remove_layout(rec.name, "manifest removed", CONTROLLER)

    def create(self, layout: DesiredLayout, used: int) -> int:
        key = layout.target.key
        listing = self.observed.get(key)
        if listing is None or not listing.known:
            reason = listing.error if listing else "not observed"
            self.notes.append(Note(layout.name, f"target {key} unreachable: {reason}"))
            return 0
        if layout.suspend:
            self.notes.append(Note(layout.name, "suspended: not created"))
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
        if used >= self.settings.capacity:
            self.blocked.append(Blocked(layout.name, capacity_error(used, self.settings.capacity)))
            return 0
        self.actions.append(CreateLayout(layout))
        return 1

    def update(self, layout: DesiredLayout, rec: LayoutRecord) -> None:
        if rec.fingerprint == layout.fingerprint():
            return
        self.actions.append(UpdateLayout(rec.id, layout))
        old = resolved_of(rec)
        anchor = self.anchor(rec)
        if layout.tmux_layout and anchor and (old is None or old.tmux_layout != layout.tmux_layout):
            self.actions.append(Relayout(layout.name, rec.target_key, anchor, layout.tmux_layout))

    def slots(self, layout: DesiredLayout, rec: LayoutRecord) -> None:
        current = self.current(rec)
        wanted = {p.label for p in layout.panes}
        anchor = self.anchor(rec)
        known = self.known(rec.target_key)
        for pane in layout.panes:
            cur = current.get(pane.label)
            if cur is not None and cur.state == State.CREATING:
                continue  # health() resumes or sweeps it
            if (
                cur is not None
                and cur.live
                and self.ambiguous(rec.target_key, cur, f"{layout.name}/{pane.label}")
            ):
                continue
            if cur is None or (cur.state == State.REMOVED and cur.removed_by not in (OPERATOR,)):
                if known:
                    cause = "pane missing" if cur is None else "pane slot back in the manifest"
                    self.actions.append(CreatePane(layout, rec.id, pane, anchor, cause))
            elif cur.state == State.REMOVED:
                self.notes.append(
                    Note(f"{layout.name}/{pane.label}", "removed by operator (recreate pane to restore)")
                )
            elif known and wants_restart(layout.restart_policy, cur):
                self.restart(layout, rec, cur, anchor)
            elif cur.live and cur.spec_hash != pane.spec_hash:
                self.outdated(layout, rec, cur, anchor)
        for label, cur in sorted(current.items()):
            if cur.state not in (State.CREATING, State.REMOVED) and label not in wanted:
                obs = self.seen(rec.target_key, cur)
                self.handled.add(cur.id)
                self.actions.append(
                    RemovePane(
                        cur.id,
                        f"{layout.name}/{label}",
                        rec.target_key,
                        obs.pane_id if obs else None,
                        "pane no longer in manifest",
                        CONTROLLER,
                    )
                )

    def restart(self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord, anchor: str | None) -> None:
        name = f"{layout.name}/{cur.label}"
        timing = restart_timing(cur, self.settings)
        if timing.depth > self.settings.chain_limit:
            reason = f"restart limit reached ({self.settings.chain_limit} restarts in a row)"
            self.handled.add(cur.id)
            self.notes.append(Note(name, reason, NoteKind.RESTART_LIMIT))
            if cur.state != State.FAILED:  # a failed pane stays as it is: nothing left to do
                stage = cur.failed_stage or Stage.LAUNCH_COMMAND
                self.actions.append(MarkPane(cur.id, name, rec.target_key, State.FAILED, stage, reason))
            return
        if timing.due is not None and timing.held(self.now):
            due = rfc3339(timing.due)
            self.requeue.append(timing.due)
            self.notes.append(Note(name, f"back-off: restart at {due}", NoteKind.BACKOFF))
            if cur.next_restart_at != due:
                delay_ms = int(timing.delay.total_seconds() * 1000)
                self.actions.append(
                    HoldRestart(cur.id, name, rec.target_key, due, timing.restarts_in_a_row, delay_ms)
                )
            return
        if self.restarts >= self.settings.recovery_wave:  # layouts, then panes, in order
            self.handled.add(cur.id)
            self.notes.append(Note(name, "restart waits for the next recovery wave", NoteKind.WAVE))
            return
        self.restarts += 1
        cause = f"restartPolicy {layout.restart_policy}: {cur.reason or cur.state}"
        self.replace(layout, rec, cur, anchor, cause, timing.depth, timing.restarts_in_a_row + 1)

    def outdated(self, layout: DesiredLayout, rec: LayoutRecord, cur: PaneRecord, anchor: str | None) -> None:
        name = f"{layout.name}/{cur.label}"
        if layout.update_strategy != "Recreate":
            self.notes.append(Note(name, "outdated: spec changed (updateStrategy OnDelete)"))
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
        respawn = obs.pane_id if obs else None
        self.actions.append(
            CreatePane(
                layout,
                rec.id,
                pane,
                anchor,
                cause,
                predecessor_id=cur.id,
                chain_depth=depth,
                restarts_in_a_row=restarts_in_a_row,
                replaces=cur.id,
                respawn=respawn,
            )
        )

    def recovered(self, rec: LayoutRecord) -> None:
        found = tuple(
            p.id
            for p in self.current(rec).values()
            if p.live and p.state != State.CREATING and self.seen(rec.target_key, p)
        )
        if found:
            self.actions.append(Recovered(rec.id, rec.name, rec.target_key, found))

    def health(self, rec: LayoutRecord, pane: PaneRecord) -> None:
        if not self.known(rec.target_key):
            return
        name = f"{rec.name}/{pane.label}"
        if self.ambiguous(rec.target_key, pane, name):
            return
        obs = self.seen(rec.target_key, pane)
        key = rec.target_key
        if pane.state == State.CREATING:
            self.creating(rec, pane, obs, name)
        elif obs is None:
            vanished = MarkPane(
                pane.id, name, key, State.FAILED, Stage.RECOVERY_REATTACH, "pane vanished from tmux"
            )
            self.actions.append(vanished)
        elif obs.dead and (pane.state == State.READY or pane.failed_stage != Stage.LAUNCH_COMMAND):
            # a degraded pane (say, for its log) whose process exits is restaged, not re-stated
            cause = f"process {obs.exit_description}"
            exited = MarkPane(
                pane.id,
                name,
                key,
                State.DEGRADED,
                Stage.LAUNCH_COMMAND,
                cause,
                obs.dead_status,
                obs.dead_signal,
            )
            self.actions.append(exited)
        elif obs.pending:
            self.actions.append(SettlePane(pane.id, name, key, obs.pane_id, pane.label))

    def creating(self, rec: LayoutRecord, pane: PaneRecord, obs: ObservedPane | None, name: str) -> None:
        layout = self.desired.get(rec.name)
        expired = self.now - parse_time(pane.created_at) >= self.settings.creating_ttl
        if expired or layout is None or rec.name in self.deletes:
            stage = Stage.REGISTRATION if obs else Stage.PANE_CREATE
            cause = "still creating after the pending-marker TTL" if expired else "creation interrupted"
            self.actions.append(MarkPane(pane.id, name, rec.target_key, State.FAILED, stage, cause))
            return
        self.actions.append(
            ResumePane(
                layout,
                rec.id,
                pane.id,
                pane.label,
                obs.pane_id if obs else None,
                self.anchor(rec),
                "creation interrupted",
            )
        )


def capacity_error(current: int, limit: int) -> AgentTowerError:
    return AgentTowerError(
        ErrorCode.LAYOUT_CAPACITY_EXCEEDED,
        f"{current} layouts exist or are being created (limit {limit})",
        {"current_count": current, "limit": limit},
    )


def plan(
    desired: Mapping[str, DesiredLayout],
    snapshot: Snapshot,
    observed: Mapping[str, Listing],
    instance_id: str,
    now: datetime,
    deletes: Iterable[str] = (),
    settings: PlanSettings | None = None,
    protected: Iterable[str] = (),
    recovery: bool = False,
) -> Plan:
    return _Planner(
        desired,
        snapshot,
        observed,
        instance_id,
        now,
        frozenset(deletes),
        settings or PlanSettings(),
        frozenset(protected),
        recovery,
    ).run()
