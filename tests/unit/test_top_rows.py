"""`top`'s rows without a terminal: the filter keeps a layout with its matching panes,
events read as one short line, no database shows nothing and creates none, and the
verb does not import textual until it runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from agenttower.cli.top_rows import Board, Row, _event_text, visible
from agenttower.paths import Paths


def row(name: str, state: str = "ready", activity: str = "idle") -> Row:
    layout = name.split("/")[0]
    is_layout = "/" not in name
    return Row(f"x/{name}", name, layout, is_layout, state, "" if is_layout else activity, "1m", "0", "")


ROWS = [
    row("team"),
    row("team/m1"),
    row("team/s1", "failed", "unknown"),
    row("solo"),
    row("solo/m1", activity="working"),
]


def test_a_filter_keeps_matching_panes_under_their_layout_and_a_matching_layout_whole() -> None:
    assert visible(ROWS, "") == ROWS
    assert [r.name for r in visible(ROWS, "failed")] == ["team", "team/s1"]
    assert [r.name for r in visible(ROWS, "solo")] == ["solo", "solo/m1"]
    assert [r.name for r in visible(ROWS, "M1 work")] == ["solo", "solo/m1"]  # every word, any case
    assert visible(ROWS, "nothing-like-it") == []


def test_an_event_is_its_time_its_type_and_its_reason() -> None:
    event = {
        "event_type": "managed_pane_failed",
        "timestamp": "2026-12-01T15:20:01.123Z",
        "payload": {"reason": "pane vanished from tmux"},
    }
    assert _event_text(event) == "15:20:01 pane_failed: pane vanished from tmux"
    changed = {"event_type": "managed_pane_activity_changed", "timestamp": "2026-12-01T15:20:02.000Z",
               "payload": {"to": "idle"}}  # fmt: skip
    assert _event_text(changed) == "15:20:02 pane_activity_changed: idle"


def test_no_database_shows_no_rows_and_creates_none(tmp_path: Path) -> None:
    paths = Paths(state_dir=tmp_path / "state", desired_dir=tmp_path / "desired", config_dir=tmp_path)
    board = Board(paths)
    assert board.rows(datetime.now(UTC)) == [] and board.store is None
    assert not (tmp_path / "state").exists()


def test_the_top_verb_does_not_import_textual_until_it_runs() -> None:
    code = (
        "import sys, click\n"
        "from agenttower.cli.main import cli\n"
        "cli.get_command(click.Context(cli), 'top')\n"
        "print('textual' in sys.modules, 'agenttower.cli.top_app' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_top_without_a_terminal_is_refused_before_anything_is_drawn() -> None:
    from click.testing import CliRunner

    from agenttower.cli.main import cli

    result = CliRunner().invoke(cli, ["top"])
    assert result.exit_code == 1
    assert "error: validation_failed: terminal: top needs a terminal" in result.stderr


def test_rows_come_from_the_records_and_an_unchanged_store_is_not_read_again(tmp_path: Path) -> None:
    from agenttower.events.types import EventType
    from agenttower.model.lifecycle import Actor, Stage, State
    from agenttower.store.repo import NewPane, Store

    paths = Paths(state_dir=tmp_path, desired_dir=tmp_path / "desired", config_dir=tmp_path)
    store = Store.open(paths.database)
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    with store.write(now, Actor.OPERATOR) as tx:
        layout_id = tx.insert_layout("team", "host", "team", {}, None)
        m1 = tx.insert_pane(layout_id, NewPane("m1", "master", "agent", 0, "h", {}))
        s1 = tx.insert_pane(layout_id, NewPane("s1", "slave", "worker", 1, "h", {}))
        tx.transition(m1, State.READY)
        tx.transition(s1, State.READY)
        tx.transition(s1, State.FAILED, stage=Stage.RECOVERY_REATTACH, reason="pane vanished from tmux")
    with store.write(now, Actor.CONTROLLER) as tx:
        tx.insert_pane(layout_id, NewPane("s1", "slave", "worker", 1, "h", {}, s1.id, chain_depth=1))
        tx.refresh_layout_state(layout_id)
        tx.emit(EventType.PANE_PENDING_MARKER_CLEARED, layout_id, m1.id)  # bookkeeping: not shown
        tx.emit(EventType.PANE_LOG_ROTATED, layout_id, m1.id, {"path": "m1.log", "bytes": 1, "kept": 1})
    board = Board(paths)
    rows = {r.name: r for r in board.rows(now)}
    assert list(rows) == ["team", "team/m1", "team/s1"]
    assert (rows["team"].state, rows["team"].detail) == ("creating 1/2", "session team on host")
    assert (rows["team/m1"].state, rows["team/m1"].restarts, rows["team/m1"].activity) == (
        "ready",
        "0",
        "unknown",
    )
    assert rows["team/m1"].last_event.startswith("15:00:00 pane_") and rows["team/m1"].last_event.endswith(
        ": ready"
    )
    assert (rows["team/s1"].state, rows["team/s1"].restarts) == ("creating", "1")  # the successor speaks
    assert board.store is not None
    statements: list[str] = []
    board.store.conn.set_trace_callback(statements.append)
    again = board.rows(now)
    assert [r.name for r in again] == list(rows)
    assert not any("FROM panes" in s or "FROM layouts" in s for s in statements), statements  # kept reads
    assert sum("FROM outbox" in s for s in statements) == 1  # only the events after the last one read
    board.close()
    store.close()
