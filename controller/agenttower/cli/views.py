"""Records as the objects `get` and `describe` show: camelCase, Kubernetes-shaped.

`get` without `--all` shows the record that speaks for each slot of each live layout
(an operator-removed slot shows as removed); `--all` shows the whole history. Live
layouts show what is true now: with no controller running, tmux as this command just
listed it, judged by the planner (`reconcile/live.py`); with one, its last pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from agenttower.model.constants import API_VERSION
from agenttower.model.lifecycle import Actor, State, layout_state
from agenttower.paths import Paths
from agenttower.reconcile import status
from agenttower.reconcile.live import Observation, Seen, Source
from agenttower.store.records import AgentRecord, LayoutRecord, PaneRecord, current_panes
from agenttower.store.repo import Store

CONTROLLER_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class World:
    layouts: list[LayoutRecord]
    panes: list[PaneRecord]
    agents: list[AgentRecord]
    observation: Observation | None = None  # None: records only (e.g. `wait`)

    @classmethod
    def load(cls, store: Store, include_removed: bool) -> World:
        return cls(store.layouts(include_removed=True), store.panes(), store.agents())

    def layout_by_id(self, layout_id: str) -> LayoutRecord | None:
        return next((rec for rec in self.layouts if rec.id == layout_id), None)

    def agent_of(self, pane_id: str) -> AgentRecord | None:
        return next((a for a in self.agents if a.pane_id == pane_id), None)

    def seen(self, layout: LayoutRecord | None) -> Seen | None:
        """The observation behind a live layout's state (none for removed ones: final)."""
        if self.observation is None or layout is None or layout.state == State.REMOVED:
            return None
        return self.observation.target(layout.target_key)

    def shown(self, pane: PaneRecord) -> PaneRecord:
        return self.observation.pane(pane) if self.observation else pane


def observed(world: World, paths: Paths, instance_id: str) -> World:
    """The world as it is now: the running controller's last observation, else one
    read-only listing per target made here."""
    live = [rec for rec in world.layouts if rec.state != State.REMOVED]
    if not live:
        return world
    targets = _controller_observation(paths)
    if targets is not None:
        return replace(world, observation=Observation(targets))
    from agenttower.reconcile import live as live_view
    from agenttower.settings import Settings

    now = datetime.now(UTC)
    seen = live_view.observe(live, world.panes, instance_id, Settings.from_env(), now)
    return replace(world, observation=seen)


def _controller_observation(paths: Paths) -> dict[str, Seen] | None:
    """What the running controller last saw, per target; None when no controller answers
    (looking at tmux here is then the only way to know)."""
    from agenttower.daemon import protocol
    from agenttower.model.errors import AgentTowerError

    if not paths.socket.exists():
        return None
    try:
        answer = protocol.call(paths.socket, {"op": protocol.OBSERVATION}, CONTROLLER_TIMEOUT_S)
    except (protocol.ControllerUnavailable, AgentTowerError, OSError, ValueError):
        return None
    return {key: Seen.from_wire(data) for key, data in answer.get("targets", {}).items()}


def observation_fields(seen: Seen | None) -> dict[str, Any]:
    return {
        "observation": str(seen.source) if seen else None,
        "observedAt": seen.at if seen and seen.source is not Source.STALE else None,
        "observationError": seen.error if seen else None,
    }


def visible_layouts(world: World, show_all: bool) -> list[LayoutRecord]:
    return [rec for rec in world.layouts if show_all or rec.state != State.REMOVED]


def visible_panes(world: World, show_all: bool) -> list[PaneRecord]:
    if show_all:
        return list(world.panes)
    shown: list[PaneRecord] = []
    for rec in visible_layouts(world, False):
        current = current_panes(p for p in world.panes if p.layout_id == rec.id)
        shown.extend(
            p
            for p in sorted(current.values(), key=lambda p: p.slot)
            if p.state != State.REMOVED or p.removed_by == Actor.OPERATOR
        )
    return shown


def _layout_now(world: World, rec: LayoutRecord) -> tuple[LayoutRecord, list[PaneRecord]]:
    """The layout and its current panes as observed. Once the planner would mark one of
    them, the layout's state is their aggregate (as the store would compute it) and its
    Ready condition follows; a removed layout's Ready is False whatever was stored."""
    mine = current_panes(p for p in world.panes if p.layout_id == rec.id).values()
    current = [world.shown(p) for p in mine]
    if rec.state == State.REMOVED:
        ready = status.with_ready(rec, current, rec.removed_at or rec.updated_at)
        return replace(rec, conditions=tuple(ready)), current
    seen = world.seen(rec)
    if seen is None or seen.source is not Source.LIVE or seen.at is None:
        return rec, current
    if any(shown is not record for shown, record in zip(current, mine, strict=True)):
        rec = replace(rec, state=layout_state(p.state for p in current))
    return replace(rec, conditions=tuple(status.with_ready(rec, current, seen.at))), current


def layout_item(world: World, rec: LayoutRecord) -> dict[str, Any]:
    rec, current = _layout_now(world, rec)
    live = [p for p in current if p.state != State.REMOVED]
    return {
        "apiVersion": API_VERSION,
        "kind": "Layout",
        "metadata": {
            "name": rec.name,
            "uid": rec.id,
            "creationTimestamp": rec.created_at,
            "generation": rec.generation,
        },
        "spec": rec.spec,
        "status": {
            "state": rec.state,
            "readyPanes": sum(1 for p in live if p.state == State.READY),
            "totalPanes": len(live),
            "id": rec.id,
            "target": rec.target_key,
            "session": rec.session,
            "sourceFile": rec.source_file,
            "updatedAt": rec.updated_at,
            "removedAt": rec.removed_at,
            "observedGeneration": rec.observed_generation,
            "conditions": list(rec.conditions),
            **observation_fields(world.seen(rec)),
        },
    }


def _restart_info(layout: LayoutRecord | None, pane: PaneRecord) -> dict[str, Any]:
    """`outdated` (spec changed under OnDelete) and, under a restart policy, until when
    back-off holds the next restart (null when it is immediate or not wanted)."""
    from agenttower.reconcile.live import next_restart_at
    from agenttower.settings import Settings

    info: dict[str, Any] = {"outdated": False, "nextRestartAt": None}
    resolved = (layout.resolved or {}) if layout else {}
    wanted = next((p for p in resolved.get("panes", []) if p["label"] == pane.label), None)
    if wanted is not None and pane.state != State.REMOVED:
        info["outdated"] = wanted["spec_hash"] != pane.spec_hash
    policy = resolved.get("restart_policy", "Never")
    info["nextRestartAt"] = next_restart_at(policy, pane, Settings.from_env())
    return info


def pane_item(world: World, pane: PaneRecord) -> dict[str, Any]:
    pane = world.shown(pane)
    layout = world.layout_by_id(pane.layout_id)
    layout_name = layout.name if layout else pane.layout_id
    agent = world.agent_of(pane.id)
    return {
        "apiVersion": API_VERSION,
        "kind": "Pane",
        "metadata": {
            "name": f"{layout_name}/{pane.label}",
            "layout": layout_name,
            "uid": pane.id,
            "creationTimestamp": pane.created_at,
        },
        "spec": {
            "role": pane.role,
            "capability": pane.capability,
            "label": pane.label,
            "launch": {_camel(k): v for k, v in pane.launch.items()},
        },
        "status": {
            "state": pane.state,
            "failedStage": pane.failed_stage,
            "reason": pane.reason,
            "exitCode": pane.exit_code,
            "id": pane.id,
            "tmuxPaneId": pane.tmux_pane_id,
            "predecessorId": pane.predecessor_id,
            "chainDepth": pane.chain_depth,
            "sessionId": pane.session_id,
            **({"agentSessionId": pane.agent_session_id} if pane.agent_session_id else {}),
            "resumedFrom": pane.resumed_from,
            "agentId": agent.id if agent else None,
            "specHash": pane.spec_hash,
            "logPath": pane.log_path,
            "target": layout.target_key if layout else None,
            "readyAt": pane.ready_at,
            "endedAt": pane.ended_at,
            "activity": pane.activity,
            "activityReason": pane.activity_reason,
            "activitySince": pane.activity_since,
            "activitySource": pane.activity_source,
            "crashLoop": pane.crash_loop,
            "lastOutput": pane.last_output,
            **_restart_info(layout, pane),
            **observation_fields(world.seen(layout)),
        },
    }


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def agent_item(agent: AgentRecord) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Agent",
        "metadata": {"name": agent.id, "uid": agent.id, "creationTimestamp": agent.created_at},
        "spec": {
            "origin": agent.origin,
            "pane": f"{agent.layout_name}/{agent.label}" if agent.layout_name else None,
            "role": agent.role,
            "capability": agent.capability,
            "target": agent.target_key,
        },
        "status": {"paneId": agent.pane_id, "tmuxPaneId": agent.tmux_pane_id},
    }


def as_list(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}
