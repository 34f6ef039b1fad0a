"""`get -w`: after the list, print a layout or pane again each time its record changes.

Read from the state store (what the passes record), polled: no tmux call, so watching
costs the controller nothing. A row is printed when what it says changes, not when
only its age does; a JSON or YAML item is printed whole, one per change.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from agenttower.paths import Paths

if TYPE_CHECKING:
    from .get_cmd import Select

POLL_S = 0.25


def _key(item: dict[str, Any]) -> str:
    return str(item["metadata"]["name"])


def _fingerprint(item: dict[str, Any]) -> str:
    status = {k: v for k, v in item["status"].items() if k not in ("observedAt", "observation")}
    return json.dumps({"spec": item.get("spec"), "status": status}, sort_keys=True, default=str)


def follow(
    paths: Paths,
    what: str,
    names: tuple[str, ...],
    show_all: bool,
    output: str,
    select: Select,
    first: list[dict[str, Any]],
) -> None:
    from agenttower.store.repo import Store

    from . import tables, views
    from .common import emit
    from .get_cmd import collect_items, name_of

    seen = {_key(i): _fingerprint(i) for i in first}
    _, columns, first_row = collect_items(views.World([], [], []), what, (), show_all, output == "wide", None)
    width = tables.widths(columns, [first_row(i) for i in first])
    while True:
        time.sleep(POLL_S)
        if not paths.database.exists():
            continue
        store = Store.open_for_reading(paths.database)
        try:
            world = views.World.load(store, show_all)
        finally:
            store.close()
        items, _columns, show_row = collect_items(world, what, names, show_all, output == "wide", select)
        for item in items:
            mark = _fingerprint(item)
            if seen.get(_key(item)) == mark:
                continue
            seen[_key(item)] = mark
            if output in ("json", "yaml"):
                emit(item, output)
            elif output == "name":
                click.echo(name_of(what, item))
            else:
                row = show_row(item)
                width = [max(w, len(tables.cell(v))) for w, v in zip(width, row, strict=True)]
                tables.print_table(columns, [row], width)
            sys.stdout.flush()  # a pipe (`get -w | grep`) sees each change as it comes
