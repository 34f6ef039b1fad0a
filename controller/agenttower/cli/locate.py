"""Where a named pane or layout lives now: its target's tmux and its tmux pane id.

For the verbs that put a person (or a script) in front of a pane: `attach`, `screen`,
and `top`'s Enter. The records name the pane; one read-only listing of its target
(no retry, the read timeout) says whether that record's pane is still there, by the
record id tmux carries on it (`@agenttower_pane`), so a pane id tmux gave to another
pane since is never the one shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from agenttower.model.errors import AgentTowerError, ErrorCode, cannot_observe
from agenttower.model.lifecycle import TERMINAL, State
from agenttower.model.resolved import Target
from agenttower.paths import Paths
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from agenttower.settings import Settings
from agenttower.store.records import LayoutRecord, PaneRecord
from agenttower.store.repo import Store

from .get_cmd import find_layout, find_pane
from .views import World


@dataclass(frozen=True)
class Located:
    name: str  # `layout/label`, or the layout's name
    layout: LayoutRecord
    pane: PaneRecord | None  # None: the whole layout
    tmux: Tmux
    where: str  # the tmux target: `%N`, or `=SESSION` for a layout
    dead: bool = False  # the pane is there but its process exited (remain-on-exit)


def _world(paths: Paths) -> World:
    store = Store.open_for_reading(paths.database)
    try:
        return World.load(store, True)
    finally:
        store.close()


def _tmux(layout: LayoutRecord, settings: Settings) -> Tmux:
    target = Target.of_record(layout.target_key, layout.resolved)
    return Tmux(ExecTarget(target, settings.tmux.binary), timeout=settings.tmux.read_timeout)


def refuse(name: str, pane: PaneRecord, why: str, action: str) -> AgentTowerError:
    return AgentTowerError(
        ErrorCode.PANE_ILLEGAL_TRANSITION,
        f"pane {name} {why}: nothing to {action}",
        {"pane_id": pane.id, "current_state": str(pane.state), "requested_action": action},
    )


def pane(paths: Paths, settings: Settings, name: str, action: str, running: bool) -> Located:
    """The pane `name` (LAYOUT/LABEL or a record id) as tmux has it now; `running`: its
    process must still run (attach), else a dead pane still shows its last screen."""
    world = _world(paths)
    record = find_pane(world, name)
    layout = world.layout_by_id(record.layout_id)
    assert layout is not None  # a pane record's layout row is never deleted
    shown = f"{layout.name}/{record.label}"
    if record.state in TERMINAL:
        raise refuse(shown, record, f"is {record.state}", action)
    tmux = _tmux(layout, settings)
    listing = tmux.list_panes(retry=False)
    if not listing.known:
        raise cannot_observe(layout.target_key, listing.error, action)
    seen = next((p for p in listing.panes if p.record_id == record.id), None)
    if seen is None:
        raise refuse(shown, record, "has no tmux pane on its target", action)
    if seen.dead and running:
        raise refuse(shown, record, f"is not running ({seen.exit_description})", action)
    return Located(shown, layout, record, tmux, seen.pane_id, seen.dead)


def layout(paths: Paths, settings: Settings, name: str, action: str) -> Located:
    """The live layout `name`: its session must be on its target now."""
    world = _world(paths)
    record = find_layout(world, name)
    if record.state == State.REMOVED:
        raise AgentTowerError(
            ErrorCode.LAYOUT_NOT_FOUND,
            f"layout {name!r} is removed: nothing to {action}",
            {"layout_id": name},
        )
    tmux = _tmux(record, settings)
    listing = tmux.list_panes(retry=False)
    if not listing.known:
        raise cannot_observe(record.target_key, listing.error, action)
    if not any(p.session == record.session for p in listing.panes):
        raise AgentTowerError(
            ErrorCode.LAYOUT_NOT_FOUND,
            f"layout {record.name}: session {record.session!r} is not on target {record.target_key}",
            {"layout_id": record.id},
        )
    return Located(record.name, record, None, tmux, f"={record.session}")
