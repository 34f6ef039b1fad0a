"""`get` and `describe`: records, read-only, in the shapes kubectl users expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import emit, output_option, path_options, verb

KINDS = {
    "layout": "layouts",
    "layouts": "layouts",
    "lo": "layouts",
    "pane": "panes",
    "panes": "panes",
    "agent": "agents",
    "agents": "agents",
}


def _store(state_dir: Path | None, desired_dir: Path | None) -> tuple[Any, Any]:
    """The store, read-only (a read verb leaves no trace), and the paths it came from."""
    from agenttower.paths import Paths
    from agenttower.store.repo import Store

    paths = Paths.resolve(state_dir, desired_dir)
    return Store.open_for_reading(paths.database), paths


def stale_notes(world: Any) -> list[str]:
    """One line per target whose state could not be observed: never shown as if it were."""
    if world.observation is None:
        return []
    return [
        f"note: target {key} could not be listed ({seen.error}): its layouts show the records as written"
        for key, seen in sorted(world.observation.targets.items())
        if seen.source == "stale"
    ]


def _kind(kind: str) -> str:
    from agenttower.model.errors import validation_failed

    if kind.lower() not in KINDS:
        raise validation_failed("kind", f"unknown kind {kind!r} (layouts, panes, agents)")
    return KINDS[kind.lower()]


def find_layout(world: Any, name: str) -> Any:
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.model.lifecycle import State

    matches = [r for r in world.layouts if name in (r.name, r.id)]
    live = [r for r in matches if r.state != State.REMOVED]
    if not matches:
        raise AgentTowerError(ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r} not found", {"layout_id": name})
    return (live or matches)[-1]


def find_pane(world: Any, name: str) -> Any:
    """`layout/label` (the record that speaks for that slot now) or a pane record id."""
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.store.records import current_panes

    by_id = [p for p in world.panes if p.id == name]
    if by_id:
        return by_id[0]
    layout_name, _, label = name.partition("/")
    for rec in reversed([r for r in world.layouts if r.name == layout_name]):
        current = current_panes(p for p in world.panes if p.layout_id == rec.id)
        if label in current:
            return current[label]
    raise AgentTowerError(ErrorCode.PANE_NOT_FOUND, f"pane {name!r} not found", {"pane_id": name})


@click.command("get")
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-A", "--all", "show_all", is_flag=True, help="Include removed and superseded records.")
@output_option()
@path_options
@verb()
def get_command(
    kind: str, name: str | None, show_all: bool, output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """List layouts, panes or agents (or show one by NAME)."""
    from . import tables, views

    what = _kind(kind)
    store, paths = _store(state_dir, desired_dir)
    try:
        world = views.World.load(store, show_all)
    finally:
        store.close()
    if what != "agents":
        world = views.observed(world, paths, store.instance_id)
    items: list[dict[str, Any]]
    columns: tuple[str, ...]
    wide: tuple[str, ...]
    if what == "layouts":
        recs = [find_layout(world, name)] if name else views.visible_layouts(world, show_all)
        items = [views.layout_item(world, r) for r in recs]
        columns, wide, row = tables.LAYOUT_COLUMNS, tables.LAYOUT_WIDE, tables.layout_row
    elif what == "panes":
        panes = [find_pane(world, name)] if name else views.visible_panes(world, show_all)
        items = [views.pane_item(world, p) for p in panes]
        columns, wide, row = tables.PANE_COLUMNS, tables.PANE_WIDE, tables.pane_row
    else:
        agents = [a for a in world.agents if not name or a.id == name]
        if name and not agents:
            from agenttower.model.errors import AgentTowerError, ErrorCode

            raise AgentTowerError(ErrorCode.PANE_NOT_FOUND, f"agent {name!r} not found", {"pane_id": name})
        items = [views.agent_item(a) for a in agents]
        columns, wide, row = tables.AGENT_COLUMNS, (), tables.agent_row
    if output in ("json", "yaml"):
        emit(items[0] if name else views.as_list(items), output)
    elif output == "name":
        for item in items:
            click.echo(f"{what[:-1]}/{item['metadata']['name']}")
    elif not items:
        click.echo(f"No {what} found.", err=True)
    else:
        is_wide = output == "wide"
        tables.print_table([*columns, *(wide if is_wide else ())], [row(i, is_wide) for i in items])
        for note in stale_notes(world):
            click.echo(note, err=True)


@click.command("describe")
@click.argument("kind")
@click.argument("name")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def describe_command(
    kind: str, name: str, output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Show a layout or pane for people: states, failed stages, chain, recent events."""
    from . import describe, views

    what = _kind(kind)
    store, paths = _store(state_dir, desired_dir)
    try:
        world = views.observed(views.World.load(store, True), paths, store.instance_id)
        if what == "layouts":
            rec = find_layout(world, name)
            data = describe.layout(world, rec, store.events(layout_id=rec.id, limit=20))
        elif what == "panes":
            pane = find_pane(world, name)
            data = describe.pane(world, pane, store.events(pane_id=pane.id, limit=20))
        else:
            from agenttower.model.errors import validation_failed

            raise validation_failed("kind", "describe takes layout or pane")
    finally:
        store.close()
    if output == "table":
        click.echo(describe.render(data))
    else:
        emit(data, output)
