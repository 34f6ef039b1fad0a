"""What the store hands out: frozen snapshots of layout, pane and agent rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agenttower.model.agents import Activity
from agenttower.model.lifecycle import NON_TERMINAL, Actor, Stage, State

if TYPE_CHECKING:  # rows come from the store; the records themselves are plain values
    import sqlite3


@dataclass(frozen=True)
class LayoutRecord:
    id: str
    name: str
    target_key: str
    session: str
    state: State
    spec: dict[str, Any]
    source_file: str | None
    created_at: str
    updated_at: str
    removed_at: str | None
    resolved: dict[str, Any] | None = None
    fingerprint: str | None = None
    generation: int = 1
    observed_generation: int = 0
    conditions: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LayoutRecord:
        return cls(
            resolved=json.loads(row["resolved_json"]) if row["resolved_json"] else None,
            fingerprint=row["fingerprint"],
            generation=row["generation"],
            observed_generation=row["observed_generation"],
            conditions=tuple(json.loads(row["conditions_json"])),
            id=row["id"],
            name=row["name"],
            target_key=row["target_key"],
            session=row["session"],
            state=State(row["state"]),
            spec=json.loads(row["spec_json"]),
            source_file=row["source_file"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            removed_at=row["removed_at"],
        )


@dataclass(frozen=True)
class PaneRecord:
    id: str
    layout_id: str
    label: str
    role: str
    capability: str
    slot: int
    state: State
    failed_stage: Stage | None
    reason: str | None
    exit_code: int | None
    spec_hash: str
    launch: dict[str, Any]
    marker_token: str
    owner: str
    tmux_pane_id: str | None
    predecessor_id: str | None
    chain_depth: int
    removed_by: Actor | None
    log_path: str | None
    created_at: str
    updated_at: str
    ready_at: str | None
    ended_at: str | None
    next_restart_at: str | None = None  # a restart by policy held by back-off until then
    restarts_in_a_row: int = 0  # restarts by policy since the slot last ran stably
    last_output: str | None = None  # the last lines on its screen when its process exited
    crash_loop: str | None = None  # why restarts are held: the same failure twice in a row
    session_id: str | None = None  # the slot's conversation id (AGENTTOWER_SESSION_ID)
    agent_session_id: str | None = None  # the id the agent reported itself, when it did
    resumed_from: str | None = None  # started to resume this conversation; None: ran `command`
    activity: Activity = Activity.UNKNOWN
    activity_reason: str | None = None
    activity_since: str | None = None
    activity_source: str | None = None  # ActivitySource: who said so (its hook, its screen)
    ready_by: str | None = None  # spawned, waiting for its readiness probe until then

    @property
    def live(self) -> bool:
        """Non-terminal: creating, ready or degraded (holds its label)."""
        return self.state in NON_TERMINAL

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PaneRecord:
        data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a Mapping
        data["launch"] = json.loads(data.pop("launch_json"))
        data.pop("event_seq", None)
        data["state"] = State(data["state"])
        data["failed_stage"] = Stage(data["failed_stage"]) if data["failed_stage"] else None
        data["removed_by"] = Actor(data["removed_by"]) if data["removed_by"] else None
        data["activity"] = Activity(data["activity"])
        return cls(**data)


@dataclass(frozen=True)
class AgentRecord:
    id: str
    pane_id: str | None
    origin: str
    target_key: str
    tmux_pane_id: str | None
    layout_name: str | None
    label: str | None
    role: str | None
    capability: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AgentRecord:
        return cls(**{k: row[k] for k in row.keys()})  # noqa: SIM118


def current_panes(panes: Iterable[PaneRecord]) -> dict[str, PaneRecord]:
    """label -> the record that speaks for that slot now (live first, else the newest)."""
    current: dict[str, PaneRecord] = {}
    for pane in sorted(panes, key=lambda p: (p.created_at, p.id)):
        held = current.get(pane.label)
        if held is None or not held.live:
            current[pane.label] = pane
    return current
