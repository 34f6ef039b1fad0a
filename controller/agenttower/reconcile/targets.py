"""What each target can take, as rules the planner applies while it plans.

A stopped or missing container is confidently empty, so the planner fails its panes,
but nothing can be spawned there until it runs again; a container's layouts share one
tmux server (one user, one socket). Pure functions of the desired layouts, the
records and what was observed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agenttower.model.errors import AgentTowerError, ErrorCode, validation_failed
from agenttower.model.lifecycle import State
from agenttower.model.resolved import DesiredLayout, Target
from agenttower.store.records import LayoutRecord


def container_not_found(layout: DesiredLayout) -> AgentTowerError:
    name = layout.target.container or layout.target.key
    where = f" on {layout.target.host}" if layout.target.host else ""
    return AgentTowerError(
        ErrorCode.CONTAINER_NOT_FOUND,
        f"container {name!r} does not exist{where} (layout {layout.name})",
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
            chosen.setdefault(rec.target_key, (rec.name, Target.of_record(rec.target_key, rec.resolved)))
    for name in sorted(desired):
        target = desired[name].target
        chosen.setdefault(target.key, (name, target))
    return chosen


def one_server_per_container(
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
