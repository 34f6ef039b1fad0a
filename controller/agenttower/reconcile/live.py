"""What tmux shows now, judged by the planner itself, for the verbs that only read.

Records say what the last pass saw; a pane killed since then still reads `ready`. So
`get`, `describe` and `doctor` list each target once (read-only) and run the very
`plan()` a pass would run; the mark actions it returns (what a pass would record
about a pane's health) are laid over the records in memory, never written, so a read
and the next pass cannot disagree. A target that cannot be listed keeps its records
as they are and is reported stale: an unknown listing is never read as "gone".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from agenttower.model.durations import rfc3339
from agenttower.model.lifecycle import State
from agenttower.model.resolved import DesiredLayout, Target
from agenttower.runtime.observe import Listing
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from agenttower.settings import Settings
from agenttower.store.records import LayoutRecord, PaneRecord

from .actions import Action, Mark
from .activity import ActivityUpdate
from .plan import Snapshot, plan
from .restarts import held_until
from .targets import server_targets


class Source(StrEnum):
    """Where the state a read verb shows comes from."""

    LIVE = "live"  # this command listed the target just now
    CONTROLLER = "controller"  # the running controller's last pass listed it
    STALE = "stale"  # the listing failed: the records as they were last written


@dataclass(frozen=True)
class Seen:
    """One target's observation: by whom, when it was attempted, and why it failed."""

    source: Source
    at: str | None
    error: str | None = None

    @classmethod
    def of(cls, listing: Listing, at: str, source: Source) -> Seen:
        if listing.known:
            return cls(source, at)
        return cls(Source.STALE, at, listing.error or "the listing failed")

    def to_wire(self) -> dict[str, Any]:
        return {"source": str(self.source), "at": self.at, "error": self.error}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Seen:
        return cls(Source(data["source"]), data.get("at"), data.get("error"))


NOT_OBSERVED = Seen(Source.STALE, None, "not observed yet")


@dataclass(frozen=True)
class Observation:
    targets: Mapping[str, Seen] = field(default_factory=dict)
    marks: Mapping[str, Action] = field(default_factory=dict)  # pane id -> what a pass would record
    activity: Mapping[str, ActivityUpdate] = field(default_factory=dict)  # pane id -> what its hook says
    layout_targets: Mapping[str, str] = field(default_factory=dict)  # layout id -> target key

    def target(self, key: str) -> Seen:
        return self.targets.get(key, NOT_OBSERVED)

    def pane(self, pane: PaneRecord) -> PaneRecord:
        """The record as the next pass would leave it (the same fields it writes)."""
        update = self.activity.get(pane.id)
        if update is not None:
            verdict = update.verdict
            at = pane.activity_since if verdict.activity == pane.activity else None
            pane = replace(
                pane,
                activity=verdict.activity,
                activity_reason=verdict.reason,
                activity_source=verdict.source,
                activity_since=at or self.target(self.layout_targets.get(pane.layout_id, "")).at,
            )
        action = self.marks.get(pane.id)
        if action is None or not isinstance(action.detail, Mark):
            return pane
        mark = action.detail
        restaged = pane.state == mark.state  # same state, new stage: the exit code is replaced
        exit_code = mark.exit_code if restaged or mark.exit_code is not None else pane.exit_code
        at = self.target(action.target_key).at
        return replace(
            pane,
            state=mark.state,
            failed_stage=mark.stage,
            reason=action.cause,
            exit_code=exit_code,
            ended_at=pane.ended_at or at,
        )


def list_targets(targets: Mapping[str, Target], settings: Settings) -> dict[str, Listing]:
    """One `list-panes` per target, no retry; several targets (containers) at once."""
    timeout = min(settings.tmux.stage_timeout, settings.tmux.read_timeout)
    runtimes = {
        key: Tmux(ExecTarget(target, settings.tmux.binary), timeout=timeout)
        for key, target in sorted(targets.items())
    }
    if len(runtimes) <= 1:
        return {key: tmux.list_panes(retry=False) for key, tmux in runtimes.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(runtimes), 16), thread_name_prefix="read") as pool:
        futures = {key: pool.submit(tmux.list_panes, False) for key, tmux in runtimes.items()}
        return {key: future.result() for key, future in futures.items()}


def judge(
    layouts: Iterable[LayoutRecord],
    panes: Iterable[PaneRecord],
    observed: Mapping[str, Listing],
    instance_id: str,
    settings: Settings,
    now: datetime,
) -> tuple[dict[str, Action], dict[str, ActivityUpdate]]:
    """The mark actions and activity updates of the pass that would run now (no screen
    is read here: what the hooks say). Its desired state is each
    layout's last recorded spec (loading the desired dir would cost the read path the
    pydantic models); layouts without one are protected, so nothing is pruned."""
    live = tuple(rec for rec in layouts if rec.state != State.REMOVED)
    ids = {rec.id for rec in live}
    desired = {rec.name: DesiredLayout.from_json(rec.resolved) for rec in live if rec.resolved}
    snapshot = Snapshot(live, tuple(p for p in panes if p.layout_id in ids))
    protected = [rec.name for rec in live if not rec.resolved]
    planned = plan(desired, snapshot, observed, instance_id, now, settings=settings, protected=protected)
    marks = {str(a.resource.id): a for a in planned.actions if isinstance(a.detail, Mark)}
    return marks, {u.pane_id: u for u in planned.activity}


def observe(
    layouts: Iterable[LayoutRecord],
    panes: Iterable[PaneRecord],
    instance_id: str,
    settings: Settings,
    now: datetime,
    listed: Mapping[str, Listing] | None = None,
) -> Observation:
    """Look at every target of the live layouts once (`listed`: listings the caller
    already made, not made again) and judge what is there."""
    live = [rec for rec in layouts if rec.state != State.REMOVED]
    wanted = {key: target for key, (_, target) in server_targets({}, live).items()}
    observed = {key: listing for key, listing in (listed or {}).items() if key in wanted}
    observed.update(list_targets({k: t for k, t in wanted.items() if k not in observed}, settings))
    at = rfc3339(now)
    seen = {key: Seen.of(listing, at, Source.LIVE) for key, listing in observed.items()}
    marks, activity = judge(live, panes, observed, instance_id, settings, now)
    return Observation(seen, marks, activity, {rec.id: rec.target_key for rec in live})


def next_restart_at(policy: str, pane: PaneRecord, settings: Settings) -> str | None:
    """When back-off lets a pane's restart by policy happen, as `get` shows it: None when
    no restart is wanted, the restart limit ended the chain, or the restart is immediate."""
    return held_until(policy, pane, settings)
