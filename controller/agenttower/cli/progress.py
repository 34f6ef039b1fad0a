"""Live progress of `apply --wait` and `delete --wait` on a terminal: one line per pane
with its state, and a summary line, redrawn while the verb waits.

The lines come from the state store, read-only, a few times a second in a thread of
its own: whoever does the work (this process or a controller) writes the records, so
the display costs no tmux call and needs nothing from the pass. It shows only when
stdout is a terminal and the output is the table (`-o json`, `-o name` and pipes get
exactly what they got before). rich is imported here, only when it shows.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenttower.model.lifecycle import State
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes

REFRESH_S = 0.2
DONE = {"apply": State.READY, "delete": State.REMOVED}
STYLES = {"ready": "green", "removed": "dim", "failed": "red", "degraded": "yellow"}


@dataclass(frozen=True)
class Row:
    name: str  # layout/label
    state: str
    detail: str  # failed stage and reason, or activity


def rows(layouts: Sequence[LayoutRecord], panes: Sequence[PaneRecord], names: set[str]) -> list[Row]:
    """The pane that speaks for each slot of the newest record of each named layout."""
    newest: dict[str, LayoutRecord] = {}
    for rec in layouts:
        if rec.name in names:
            newest[rec.name] = rec
    out: list[Row] = []
    for name, rec in sorted(newest.items()):
        current = current_panes(p for p in panes if p.layout_id == rec.id)
        for pane in sorted(current.values(), key=lambda p: p.slot):
            stage = f" ({pane.failed_stage})" if pane.failed_stage else ""
            reason = f": {pane.reason}" if pane.reason and pane.state != State.READY else ""
            out.append(Row(f"{name}/{pane.label}", str(pane.state), f"{stage}{reason}".strip()))
    return out


def summary(verb: str, shown: Sequence[Row]) -> str:
    done = sum(1 for r in shown if r.state == DONE[verb])
    counts: dict[str, int] = {}
    for r in shown:
        if r.state != DONE[verb]:
            counts[r.state] = counts.get(r.state, 0) + 1
    rest = "".join(f", {n} {state}" for state, n in sorted(counts.items()))
    return f"{verb}: {done}/{len(shown)} panes {DONE[verb]}{rest}"


def wanted(output: str, wait: bool) -> bool:
    return wait and output == "table" and sys.stdout.isatty()


@contextmanager
def shown(database: Path, verb: str, layouts: Sequence[str], enabled: bool) -> Iterator[None]:
    """Show the panes of `layouts` live while the body runs (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(file=sys.stdout)
    names = set(layouts)
    stop = threading.Event()
    with Live(_render([], verb), console=console, auto_refresh=False, transient=False) as live:

        def poll() -> None:
            while True:
                live.update(_render(_read(database, names), verb), refresh=True)
                if stop.wait(REFRESH_S):
                    return

        thread = threading.Thread(target=poll, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            live.update(_render(_read(database, names), verb), refresh=True)


def _read(database: Path, names: set[str]) -> list[Row]:
    import sqlite3

    from agenttower.store.repo import Store

    try:
        store = Store.peek(database)
    except sqlite3.Error:
        return []
    if store is None:
        return []
    try:
        return rows(store.layouts(include_removed=True), store.panes(), names)
    except sqlite3.Error:
        return []  # a schema being migrated, a file being replaced: the next read shows it
    finally:
        store.close()


def _render(shown_rows: Sequence[Row], verb: str) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    for row in shown_rows:
        style = STYLES.get(row.state, "")
        table.add_row(row.name, Text(row.state, style=style), Text(row.detail))
    return Group(table, Text(summary(verb, shown_rows), style="bold"))
