"""The planner: a pure function of (desired, records, observed, now) to actions.

No I/O, no clock, no randomness: the same inputs always give the same plan, which is
what `diff` prints and what the property tests drive. Layouts are level-triggered:
the whole desired state is compared on every pass, so a missed event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import DesiredLayout
from agenttower.runtime.observe import Listing, ObservedPane
from agenttower.store.records import LayoutRecord, PaneRecord

from .actions import Action, Blocked, CreateLayout, CreatePane, MarkPane, Note, Plan, RemovePane, ResumePane

OPERATOR = "operator"


@dataclass(frozen=True)
class PlanSettings:
    creating_ttl: timedelta = timedelta(minutes=5)
    capacity: int = 40


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


@dataclass
class _Planner:
    desired: Mapping[str, DesiredLayout]
    snapshot: Snapshot
    observed: Mapping[str, Listing]
    instance_id: str
    now: datetime
    deletes: frozenset[str]
    settings: PlanSettings
    actions: list[Action] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.live = {rec.name: rec for rec in self.snapshot.layouts if rec.state != State.REMOVED}
        self.by_layout: dict[str, list[PaneRecord]] = {}
        for pane in self.snapshot.panes:
            self.by_layout.setdefault(pane.layout_id, []).append(pane)
        self.ours: dict[str, dict[str, ObservedPane]] = {
            key: {p.record_id: p for p in listing.panes if p.owner == self.instance_id and p.record_id}
            for key, listing in self.observed.items()
        }

    # -- helpers ----------------------------------------------------------------------
    def known(self, target_key: str) -> bool:
        listing = self.observed.get(target_key)
        return listing is not None and listing.known

    def seen(self, target_key: str, pane: PaneRecord) -> ObservedPane | None:
        """The tmux pane backing `pane`, cross-checked so an inherited option never counts."""
        obs = self.ours.get(target_key, {}).get(pane.id)
        if obs is None or pane.tmux_pane_id not in (None, obs.pane_id):
            return None
        return obs

    def anchor(self, rec: LayoutRecord) -> str | None:
        for pane in self.by_layout.get(rec.id, []):
            obs = self.seen(rec.target_key, pane) if pane.live else None
            if obs is not None and obs.session == rec.session:
                return obs.pane_id
        return None

    # -- the pass ---------------------------------------------------------------------
    def run(self) -> Plan:
        for name in sorted(self.deletes):
            self.delete(name)
        capacity_used = len(self.live)
        for name in sorted(self.desired):
            if name in self.deletes:
                continue
            layout = self.desired[name]
            rec = self.live.get(name)
            if rec is None:
                capacity_used += self.create(layout, capacity_used)
            elif (rec.target_key, rec.session) != (layout.target.key, layout.session):
                self.notes.append(Note(name, "target or session changed: delete and apply to move it"))
            else:
                self.slots(layout, rec)
        for rec in self.live.values():
            for pane in current_panes(self.by_layout.get(rec.id, [])).values():
                if pane.live and pane.id not in self.handled:
                    self.health(rec, pane)
        return Plan(tuple(self.actions), tuple(self.blocked), tuple(self.notes))

    def delete(self, name: str) -> None:
        rec = self.live.get(name)
        if rec is None:
            return
        for pane in current_panes(self.by_layout.get(rec.id, [])).values():
            if pane.state == State.REMOVED:
                continue
            full = f"{name}/{pane.label}"
            obs = self.seen(rec.target_key, pane)
            self.handled.add(pane.id)
            if pane.state == State.CREATING:
                stage = Stage.REGISTRATION if obs else Stage.PANE_CREATE
                self.actions.append(
                    MarkPane(
                        pane.id,
                        full,
                        rec.target_key,
                        State.FAILED,
                        stage,
                        "creation interrupted; layout deleted",
                    )
                )
            self.actions.append(
                RemovePane(
                    pane.id,
                    full,
                    rec.target_key,
                    obs.pane_id if obs else None,
                    "deleted by operator",
                    OPERATOR,
                )
            )

    def create(self, layout: DesiredLayout, used: int) -> int:
        key = layout.target.key
        listing = self.observed.get(key)
        if listing is None or not listing.known:
            reason = listing.error if listing else "not observed"
            self.notes.append(Note(layout.name, f"target {key} unreachable: {reason}"))
            return 0
        if layout.session in listing.sessions():
            self.blocked.append(
                Blocked(
                    layout.name,
                    AgentTowerError(
                        ErrorCode.SESSION_NAME_CONFLICT,
                        f"tmux session {layout.session!r} already exists on {key} and is not agenttower's",
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

    def slots(self, layout: DesiredLayout, rec: LayoutRecord) -> None:
        current = current_panes(self.by_layout.get(rec.id, []))
        wanted = {p.label for p in layout.panes}
        anchor = self.anchor(rec)
        for pane in layout.panes:
            cur = current.get(pane.label)
            if cur is not None and cur.state == State.CREATING:
                continue  # health() resumes or sweeps it
            if cur is None or (cur.state == State.REMOVED and cur.removed_by != OPERATOR):
                if self.known(rec.target_key):
                    cause = "pane missing" if cur is None else "pane slot back in the manifest"
                    self.actions.append(CreatePane(layout, rec.id, pane, anchor, cause))
            elif cur.live and cur.spec_hash != pane.spec_hash:
                self.notes.append(Note(f"{layout.name}/{pane.label}", "outdated: spec changed (OnDelete)"))
        for label, cur in sorted(current.items()):
            if cur.live and cur.state != State.CREATING and label not in wanted:
                obs = self.seen(rec.target_key, cur)
                self.handled.add(cur.id)
                self.actions.append(
                    RemovePane(
                        cur.id,
                        f"{layout.name}/{label}",
                        rec.target_key,
                        obs.pane_id if obs else None,
                        "pane no longer in manifest",
                    )
                )

    def health(self, rec: LayoutRecord, pane: PaneRecord) -> None:
        if not self.known(rec.target_key):
            return
        name = f"{rec.name}/{pane.label}"
        obs = self.seen(rec.target_key, pane)
        if pane.state == State.CREATING:
            self.creating(rec, pane, obs, name)
        elif obs is None:
            self.actions.append(
                MarkPane(
                    pane.id,
                    name,
                    rec.target_key,
                    State.FAILED,
                    Stage.RECOVERY_REATTACH,
                    "pane vanished from tmux",
                )
            )
        elif obs.dead and pane.state == State.READY:
            self.actions.append(
                MarkPane(
                    pane.id,
                    name,
                    rec.target_key,
                    State.DEGRADED,
                    Stage.LAUNCH_COMMAND,
                    f"process {obs.exit_description}",
                    obs.dead_status,
                    obs.dead_signal,
                )
            )

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
        f"{current} layouts already exist (limit {limit})",
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
) -> Plan:
    return _Planner(
        desired, snapshot, observed, instance_id, now, frozenset(deletes), settings or PlanSettings()
    ).run()
