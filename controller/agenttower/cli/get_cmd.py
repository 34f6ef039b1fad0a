"""`get` and `describe`: records, read-only, in the shapes kubectl users expect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import complete, refs, selectors, tables
from .common import emit, output_option, path_options, verb

if TYPE_CHECKING:
    from agenttower.store.records import AgentRecord

    from .views import World


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


RECORD_KINDS = ("layouts", "panes", "agents")
CATALOG_KINDS = ("templates", "launchprofiles")


def find_layout(world: Any, name: str) -> Any:
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.model.lifecycle import State

    name = refs.strip("layouts", name)
    matches = [r for r in world.layouts if name in (r.name, r.id)]
    live = [r for r in matches if r.state != State.REMOVED]
    if not matches:
        raise AgentTowerError(ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r} not found", {"layout_id": name})
    return (live or matches)[-1]


def find_pane(world: Any, name: str) -> Any:
    """`layout/label` (the record that speaks for that slot now) or a pane record id."""
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.store.records import current_panes

    name = refs.strip("panes", name)  # `pane/team/s1` as `-o name` prints it
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
@click.argument("kind", shell_complete=complete.kind)
@click.argument("names", nargs=-1, shell_complete=complete.name)
@click.option("-A", "--all", "show_all", is_flag=True, help="Include removed and superseded records.")
@click.option(
    "--layout", "layout_name", default=None, shell_complete=complete.layout, help="Only this layout's panes."
)
@click.option(
    "-l", "--selector", default=None, help="Only layouts (and their panes) whose labels match: k=v,k!=v,k,!k."
)
@click.option(
    "-w", "--watch", is_flag=True, help="After the list, print each layout or pane again when it changes."
)
@output_option()
@path_options
@verb()
def get_command(
    kind: str,
    names: tuple[str, ...],
    show_all: bool,
    layout_name: str | None,
    selector: str | None,
    watch: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """List layouts, panes, agents, templates or launch profiles, or show some by name.

    \b
    KIND: layouts (lo), panes, agents, templates (tpl), launchprofiles (lp); a NAME may be
    written as `-o name` prints it (pane/team/s1, layout/team), KIND included.

    \b
    Examples:
      agenttower get layouts
      agenttower get panes --layout team -o wide
      agenttower get pane/team/s1 -o yaml
      agenttower get layouts -l tier=agents
      agenttower get lp                # built-in and declared launch profiles
      agenttower get panes -w          # print each change as it is recorded
    """
    from . import views

    given, names = refs.split(kind, names)
    assert given is not None
    what = refs.plural(given)
    if what in CATALOG_KINDS:
        if watch:
            from agenttower.model.errors import validation_failed

            raise validation_failed("--watch", f"{what} come from the desired dir; -w watches records")
        _get_catalog(what, names, output, state_dir, desired_dir)
        return
    if layout_name is not None and what != "panes":
        from agenttower.model.errors import validation_failed

        raise validation_failed("--layout", "only get panes takes --layout")
    select = _selection(selector, layout_name, state_dir, desired_dir)
    store, paths = _store(state_dir, desired_dir)
    try:
        world = views.World.load(store, show_all)
    finally:
        store.close()
    if what != "agents" and not watch:
        world = views.observed(world, paths, store.instance_id)
    items, columns, row = collect_items(world, what, names, show_all, output == "wide", select)
    if output in ("json", "yaml"):
        emit(items[0] if len(names) == 1 else views.as_list(items), output)
    elif output == "name":
        for item in items:
            click.echo(name_of(what, item))
    elif not items and not watch:
        click.echo(f"No {what} found.", err=True)
    elif items:
        tables.print_table(columns, [row(i) for i in items])
        for note in stale_notes(world):
            click.echo(note, err=True)
    if watch:
        from .watch import follow

        follow(paths, what, names, show_all, output, select, items)


def name_of(what: str, item: dict[str, Any]) -> str:
    return f"{refs.NAME_PREFIX[what]}/{item['metadata']['name']}"


Select = Callable[[str], bool] | None  # which layouts (by name) to show; None: every one


def _selection(
    selector: str | None, layout_name: str | None, state_dir: Path | None, desired_dir: Path | None
) -> Select:
    """Which layouts `-l` and `--layout` keep (their labels come from the desired dir)."""
    if selector is None and layout_name is None:
        return None
    labels: dict[str, dict[str, str]] = {}
    matches: selectors.Selector | None = None
    if selector is not None:
        from agenttower.paths import Paths

        from .catalog_view import Declared

        matches = selectors.parse(selector)
        labels = Declared.load(Paths.resolve(state_dir, desired_dir)).labels()

    def keep(name: str) -> bool:
        if layout_name is not None and name != layout_name:
            return False
        return matches is None or bool(matches(labels.get(name, {})))

    return keep


def collect_items(
    world: Any, what: str, names: tuple[str, ...], show_all: bool, wide: bool, select: Select
) -> tuple[list[dict[str, Any]], tuple[str, ...], Callable[[dict[str, Any]], list[Any]]]:
    """The items `get` shows, the table's columns and how one item becomes a row."""
    from . import views

    columns: tuple[str, ...]
    extra: tuple[str, ...]
    if what == "layouts":
        recs = [find_layout(world, n) for n in names] or views.visible_layouts(world, show_all)
        recs = [r for r in recs if select is None or select(r.name)]
        items = [views.layout_item(world, r) for r in recs]
        columns, extra, row = tables.LAYOUT_COLUMNS, tables.LAYOUT_WIDE, tables.layout_row
    elif what == "panes":
        panes = [find_pane(world, n) for n in names] or views.visible_panes(world, show_all)
        if select is not None:
            layout_names = {rec.id: rec.name for rec in world.layouts}
            panes = [p for p in panes if select(layout_names.get(p.layout_id, ""))]
        items = [views.pane_item(world, p) for p in panes]
        columns, extra, row = tables.PANE_COLUMNS, tables.PANE_WIDE, tables.pane_row
    else:
        if names or show_all:
            agents = [a for a in world.agents if not names or a.id in names]
        else:
            agents = current_agents(world)
        missing = sorted(set(names) - {a.id for a in agents})
        if missing:
            from agenttower.model.errors import AgentTowerError, ErrorCode

            raise AgentTowerError(
                ErrorCode.PANE_NOT_FOUND, f"agent {missing[0]!r} not found", {"pane_id": missing[0]}
            )
        items = [views.agent_item(a) for a in agents]
        columns, extra, row = tables.AGENT_COLUMNS, (), tables.agent_row
    return items, (*columns, *(extra if wide else ())), lambda item: row(item, wide)


def current_agents(world: World) -> list[AgentRecord]:
    """The agents of the panes `get panes` shows (a restart's or a removal's predecessor
    is not one of them), and every adopted agent: the registry keeps one row per run of
    every slot, which `-A` shows."""
    from agenttower.model.lifecycle import State

    from . import views

    shown = {p.id for p in views.visible_panes(world, False) if p.state != State.REMOVED}
    return [a for a in world.agents if a.origin == "adopted" or a.pane_id in shown]


def _get_catalog(
    what: str, names: tuple[str, ...], output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Templates and launch profiles: the desired dir's, the legacy dirs' and the built-ins."""
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.paths import Paths

    from . import views
    from .catalog_view import PROFILE_COLUMNS, TEMPLATE_COLUMNS, Declared, profile_row, template_row

    declared = Declared.load(Paths.resolve(state_dir, desired_dir))
    items = declared.templates() if what == "templates" else declared.profiles()
    known = [i["metadata"]["name"] for i in items]
    for n in names:
        if n not in known:
            code = ErrorCode.TEMPLATE_NOT_FOUND if what == "templates" else ErrorCode.LAUNCH_COMMAND_NOT_FOUND
            key = "template_name" if what == "templates" else "profile_name"
            raise AgentTowerError(code, f"{what[:-1]} {n!r} not found (known: {', '.join(known)})", {key: n})
    if names:
        items = [i for n in names for i in items if i["metadata"]["name"] == n]
    if output in ("json", "yaml"):
        emit(items[0] if len(names) == 1 else views.as_list(items), output)
    elif output == "name":
        for item in items:
            click.echo(name_of(what, item))
    else:
        columns, row = (
            (TEMPLATE_COLUMNS, template_row) if what == "templates" else (PROFILE_COLUMNS, profile_row)
        )
        tables.print_table(columns, [row(i, False) for i in items])


@click.command("describe")
@click.argument("kind", shell_complete=complete.kind)
@click.argument("name", required=False, shell_complete=complete.name)
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def describe_command(
    kind: str, name: str | None, output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Show a layout or pane for people: states, failed stages, chain, recent events.

    \b
    Examples:
      agenttower describe layout team
      agenttower describe pane team/s1
      agenttower describe pane/team/s1 -o json   # as `get -o name` prints it
    """
    from . import describe, views

    given, name = refs.one(kind, name, "describe")
    what = refs.plural(given, ("layouts", "panes"))
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
