"""Faults at the tmux boundary: what agenttower records when an observation cannot be
trusted. An indeterminate answer never writes a terminal state; a server that exited
is an empty server, not an unknown one."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

LAUNCH = {"master:m1": "sleepy", "slave:s1": "sleepy", "slave:s2": "sleepy"}


def states(at: type[AtCli]) -> dict[str, tuple[str, str | None]]:
    items = at.json("get", "panes", "-A")["items"]  # type: ignore[index]
    return {p["metadata"]["name"]: (p["status"]["state"], p["status"]["failedStage"]) for p in items}


def recorded(env: Env) -> set[tuple[str, str | None]]:
    """Pane states as stored, not as a read verb's live look shows them."""
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return set(conn.execute("SELECT state, failed_stage FROM panes").fetchall())


def up(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    env.reset_calls()


def fail_check(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """Make the tmux call that checks a delete's kill answer `message` and fail."""
    monkeypatch.setenv("AT_FAIL_CALL", "3")  # 1 observe, 2 the kill batch, 3 the check
    monkeypatch.setenv("AT_FAIL_MESSAGE", message)


def test_fr009_deleting_the_last_layout_while_the_server_exits_is_not_a_failure(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    up(env, at)
    fail_check(monkeypatch, "server exited unexpectedly")
    result = at.run("delete", "layout", "team")
    calls = env.tmux_calls()
    assert (
        calls[0].startswith("list-panes") and "source-file" in calls[1] and calls[2].startswith("list-panes")
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert set(states(at).values()) == {("removed", None)}


def test_fr009_an_indeterminate_check_after_the_kill_records_nothing_and_says_so(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    up(env, at)
    fail_check(monkeypatch, "lost server: protocol version mismatch")
    result = at.run("delete", "layout", "team")
    assert result.exit_code == 1
    assert "could not confirm that pane team/m1 is gone" in result.stderr
    assert recorded(env) == {("ready", None)}  # no false failed/tmux_kill in the store
    assert set(states(at).values()) == {("failed", "recovery_reattach")}  # what `get` sees live: gone

    monkeypatch.delenv("AT_FAIL_CALL")
    again = at.run("delete", "layout", "team")  # the operator retries: now it can be seen
    assert again.exit_code == 0, again.output + again.stderr
    assert set(states(at).values()) == {("removed", None)}
