"""What each target can take: a plan held to the state of its tmux server.

A stopped or missing container is confidently empty, so the planner fails its panes,
but nothing can be spawned there until it runs again; a container's layouts share one
tmux server (one user, one socket). Pure functions of the plan and what was observed,
applied right after `plan()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from agenttower.model.errors import AgentTowerError, ErrorCode, validation_failed
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import DesiredLayout, Target
from agenttower.runtime.observe import Listing, Unavailable
from agenttower.runtime.target import target_for_record
from agenttower.store.records import LayoutRecord

from .actions import (
    Action,
    Blocked,
    CreateLayout,
    CreatePane,
    MarkPane,
    Note,
    Plan,
    Recovered,
    ResumePane,
    SettlePane,
)


def container_not_found(layout: DesiredLayout) -> AgentTowerError:
    name = layout.target.container or layout.target.key
    return AgentTowerError(
        ErrorCode.CONTAINER_NOT_FOUND,
        f"container {name!r} does not exist (layout {layout.name})",
        {"container_id": name},
        layout.source,
    )


def _reach(target: Target) -> tuple[str | None, str | None, str | None]:
    """How a container's tmux server is reached; the target key does not say it."""
    return (target.user, target.socket, target.socket_path)


def server_targets(
    desired: Mapping[str, DesiredLayout], records: Iterable[LayoutRecord]
) -> dict[str, tuple[str, Target]]:
    """target key -> (layout, Target) saying how that key's tmux server is reached. Live
    records come first, oldest first, with the target they were created with: their panes
    live on that server, even if a manifest now names another user or socket. Then the
    desired layouts, by name."""
    chosen: dict[str, tuple[str, Target]] = {}
    for rec in records:
        if rec.state != State.REMOVED:
            chosen.setdefault(rec.target_key, (rec.name, target_for_record(rec.target_key, rec.resolved)))
    for name in sorted(desired):
        target = desired[name].target
        chosen.setdefault(target.key, (name, target))
    return chosen


def _one_server_per_container(
    desired: Mapping[str, DesiredLayout], records: Iterable[LayoutRecord]
) -> tuple[dict[str, AgentTowerError], set[str]]:
    """Layouts blocked because another layout holds their container's tmux server under
    another user or socket (a target key names one server), and layouts whose own user or
    socket changed since they were created (like a changed host socket: delete and apply
    to move them; until then their panes are watched where they are)."""
    servers = server_targets(desired, records)
    blocked: dict[str, AgentTowerError] = {}
    moved: set[str] = set()
    for name in sorted(desired):
        layout = desired[name]
        if layout.target.container is None:
            continue
        owner, target = servers[layout.target.key]
        if _reach(target) == _reach(layout.target):
            continue
        if owner == name:
            moved.add(name)
            continue
        blocked[name] = validation_failed(
            "spec.target",
            f"layouts {owner!r} and {name!r} both use container {layout.target.container!r} but with a "
            "different user or socket; agenttower drives one tmux server per container",
            layout.source,
        )
    return blocked, moved


def _layout_name(action: Action) -> str:
    layout = getattr(action, "layout", None)
    if isinstance(layout, DesiredLayout):
        return layout.name
    return str(getattr(action, "name", "")).split("/")[0]


def hold_to_targets(
    planned: Plan,
    desired: Mapping[str, DesiredLayout],
    records: Iterable[LayoutRecord],
    observed: Mapping[str, Listing],
) -> Plan:
    """What each target can take. A stopped or missing container is confidently empty, so
    the planner fails its panes (recovery_reattach); but nothing can be spawned there:
    restarts and missing panes wait until it runs again, a layout new to a missing
    container is blocked (`container_not_found`), and a creation it interrupted fails as
    pane_create (restartable by policy). An unreachable target (docker daemon down) is
    reported on each of its layouts."""
    records = tuple(records)
    conflicts, moved = _one_server_per_container(desired, records)
    actions: list[Action] = []
    blocked = list(planned.blocked) + [Blocked(name, error) for name, error in sorted(conflicts.items())]
    notes = list(planned.notes) + [
        Note(name, "spec.target user or socket changed: delete and apply to move it")
        for name in sorted(moved)
    ]
    for action in planned.actions:
        if _layout_name(action) in conflicts:
            continue  # observed on another layout's server: its panes would look vanished
        if _layout_name(action) in moved and not isinstance(
            action, MarkPane | SettlePane | ResumePane | Recovered
        ):
            continue  # health only, where its panes are (no spec update, no new panes)
        listing = observed.get(action.target_key)
        if not isinstance(action, CreateLayout | CreatePane | ResumePane) or listing is None:
            actions.append(action)
            continue
        why = listing.unavailable
        if why is None:
            actions.append(action)
        elif isinstance(action, CreateLayout) and why is Unavailable.CONTAINER_MISSING:
            blocked.append(Blocked(action.layout.name, container_not_found(action.layout)))
        elif isinstance(action, ResumePane):
            name = f"{action.layout.name}/{action.label}"
            cause = f"creation interrupted: {listing.error or why}"
            actions.append(
                MarkPane(action.pane_id, name, action.target_key, State.FAILED, Stage.PANE_CREATE, cause)
            )
        else:
            container = action.layout.target.container
            state = "does not exist" if why is Unavailable.CONTAINER_MISSING else "is not running"
            notes.append(
                Note(action.layout.name, f"container {container} {state}: {action.describe()} waits")
            )
    noted = {n.name for n in notes}
    for rec in records:
        listing = observed.get(rec.target_key)
        if rec.state != State.REMOVED and listing is not None and not listing.known and rec.name not in noted:
            notes.append(Note(rec.name, f"target {rec.target_key} unreachable: {listing.error}"))
    if (actions, blocked, notes) == (list(planned.actions), list(planned.blocked), list(planned.notes)):
        return planned
    return replace(planned, actions=tuple(actions), blocked=tuple(blocked), notes=tuple(notes))
