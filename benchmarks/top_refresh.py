"""What one `top` refresh costs: its rows read from a state store of 40 layouts x 25 panes.

    python benchmarks/top_refresh.py [--repeat N]

A refresh of an unchanged store, and one after 10 new events (the store then reads its
panes again). It runs no tmux: a temporary state dir only. Prints milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agenttower.cli.top_rows import Board
from agenttower.events.types import EventType
from agenttower.model.lifecycle import Actor, State
from agenttower.paths import Paths
from agenttower.store.records import PaneRecord
from agenttower.store.repo import NewPane, Store

LAYOUTS, PANES = 40, 25


def build(root: Path) -> tuple[Paths, Store, list[PaneRecord]]:
    paths = Paths(state_dir=root, desired_dir=root / "desired", config_dir=root)
    store = Store.open(paths.database)
    panes = []
    with store.write(datetime.now(UTC), Actor.OPERATOR) as tx:
        for i in range(LAYOUTS):
            layout_id = tx.insert_layout(f"l{i}", "host", f"l{i}", {}, None)
            for j in range(PANES):
                pane = tx.insert_pane(layout_id, NewPane(f"s{j}", "slave", "worker", j, "h", {}))
                tx.transition(pane, State.READY)
                panes.append(pane)
    return paths, store, panes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as tmp:
        paths, store, panes = build(Path(tmp))
        board = Board(paths)
        now = datetime.now(UTC)
        start = time.perf_counter()
        rows = board.rows(now)
        first = time.perf_counter() - start
        unchanged, changed = [], []
        for k in range(repeat):
            start = time.perf_counter()
            board.rows(now)
            unchanged.append(time.perf_counter() - start)
            with store.write(now, Actor.CONTROLLER) as tx:
                for pane in panes[(k * 10) % len(panes) :][:10]:
                    tx.emit(EventType.PANE_INPUT_SENT, pane.layout_id, pane.id, {"length": 1})
            start = time.perf_counter()
            board.rows(now)
            changed.append(time.perf_counter() - start)
        board.close()
        store.close()
    print(f"{len(rows)} rows ({LAYOUTS} layouts x {PANES} panes), {repeat} refreshes each")
    print(f"first read            {first * 1000:7.2f} ms")
    print(f"unchanged store       {statistics.median(unchanged) * 1000:7.2f} ms (median)")
    print(f"after 10 new events   {statistics.median(changed) * 1000:7.2f} ms (median)")


if __name__ == "__main__":
    main()
