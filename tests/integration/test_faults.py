"""Faults at the tmux boundary: what agenttower records when an observation cannot be
trusted. An indeterminate answer never writes a terminal state; a server that exited
is an empty server, not an unknown one."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3

import pytest

from tests.conftest import AtCli, Env, eventually
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


# ---- foreign panes that copy agenttower's options ---------------------------------------


def instance_id(env: Env) -> str:
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()[0])


def impostor(env: Env, session: str, options: dict[str, str]) -> str:
    """A pane of someone else's session that copies agenttower's pane options."""
    env.tmux("new-session", "-d", "-s", session, "sleep 100000")
    pane = env.tmux("display-message", "-p", "-t", f"={session}:", "#{pane_id}").stdout.strip()
    for option, value in options.items():
        env.tmux("set-option", "-p", "-t", pane, option, value)
    return pane


def alive(env: Env, pane: str) -> bool:
    return pane in env.tmux("list-panes", "-a", "-F", "#{pane_id}").stdout.split()


def test_fr014_a_pane_copying_a_creating_records_ids_is_neither_adopted_nor_killed(
    env: Env, at: type[AtCli]
) -> None:
    from tests.integration.test_crash import crash_at

    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))
    crash_at(env, 2, path)  # records committed `creating`, the spawn batch never ran
    left = {p["spec"]["label"]: p["status"]["id"] for p in at.json("get", "panes", "-A")["items"]}  # type: ignore[index]
    assert recorded(env) == {("creating", None)}
    copy = impostor(env, "intruder", {"@agenttower_owner": instance_id(env), "@agenttower_pane": left["m1"]})

    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    items = {p["spec"]["label"]: p["status"] for p in at.json("get", "panes")["items"]}  # type: ignore[index]
    assert items["m1"]["state"] == "ready" and items["m1"]["tmuxPaneId"] != copy
    assert at.run("delete", "layout", "team").exit_code == 0
    assert alive(env, copy)  # never ours: not adopted, not killed


def test_fr014_a_pane_copying_a_live_panes_ids_does_not_hide_it_nor_get_killed(
    env: Env, at: type[AtCli]
) -> None:
    up(env, at)
    real = {p["spec"]["label"]: p["status"] for p in at.json("get", "panes")["items"]}  # type: ignore[index]
    m1 = real["m1"]
    options = {
        "@agenttower_owner": instance_id(env),
        "@agenttower_pane": m1["id"],
        "@agenttower_spec": m1["specHash"],
    }
    copy = impostor(env, "zz-copy", options)  # listed after the real session

    result = at.run("apply", "-f", str(env.root / "team.yaml"))
    assert result.exit_code == 0, result.output + result.stderr
    assert recorded(env) == {("ready", None)}  # the real m1 did not "vanish"
    assert at.run("delete", "layout", "team").exit_code == 0
    assert not alive(env, m1["tmuxPaneId"]) and alive(env, copy)


def test_fr014_two_panes_carrying_one_creations_token_are_reported_not_acted_on(
    env: Env, at: type[AtCli]
) -> None:
    """A crash after the spawn, before the probe was read: the real pane carries the
    pending token; a copy of it (token included) makes the match ambiguous."""
    from tests.integration.test_crash import start_cli

    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))
    proc = start_cli("apply", "-f", str(path), AGENTTOWER_PROBE_DELAY="5s")
    eventually(lambda: len(env.panes()) == 3, what="the spawn batch to create the panes")
    os.killpg(proc.pid, signal.SIGKILL)  # during the probe: spawned, never attached
    proc.wait()
    assert recorded(env) == {("creating", None)}
    spawned = env.tmux(
        "list-panes", "-a", "-F", "#{pane_id} #{@agenttower_pane} #{@agenttower_pending}"
    ).stdout
    first_id, record, token = spawned.split("\n")[0].split()
    env.tmux("new-window", "-d", "-t", "=team:", "sleep 100000")  # in the very session agenttower made
    copy = env.tmux("list-panes", "-t", "=team:1", "-F", "#{pane_id}").stdout.strip()
    options = {
        "@agenttower_owner": instance_id(env),
        "@agenttower_pane": record,
        "@agenttower_pending": token,
    }
    for option, value in options.items():
        env.tmux("set-option", "-p", "-t", copy, option, value)

    diff = at.run("diff", "-f", str(path))
    assert "ambiguous" in diff.stdout + diff.stderr
    deleted = at.run("delete", "layout", "team")
    assert deleted.exit_code == 1 and "ambiguous" in deleted.stderr
    assert alive(env, copy) and alive(env, first_id)  # neither was taken as ours to kill


def test_fr022_a_server_killed_during_the_probe_leaves_creations_to_resume_not_false_failures(
    env: Env, at: type[AtCli]
) -> None:
    from tests.integration.test_crash import start_cli

    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))
    proc = start_cli("apply", "-f", str(path), AGENTTOWER_PROBE_DELAY="5s")
    eventually(lambda: len(env.panes()) == 3, what="the spawn batch to create the panes")
    env.tmux("kill-server")  # while the batch waits in its probe
    _, err = proc.communicate(timeout=60)
    assert recorded(env) == {("creating", None)}, err  # not "tmux did not create the pane": it did

    again = at.run("apply", "-f", str(path), "--wait")  # restartPolicy Never: the pass resumes them
    assert again.exit_code == 0, again.output + again.stderr
    assert recorded(env) == {("ready", None)}
    assert len(env.panes()) == 3


def test_fr020_a_server_with_no_session_yet_is_an_empty_server_not_an_error(
    env: Env, at: type[AtCli]
) -> None:
    """Another apply's `start-server` has run, its `new-session` not yet: `list-panes -a`
    answers "no current target". A reader and an apply see an empty server there."""
    env.tmux("start-server", ";", "set-option", "-g", "exit-empty", "off")
    assert env.tmux("list-panes", "-a", check=False).stderr.strip() == "no current target"
    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))

    diff = at.run("diff", "-f", str(path))
    assert diff.exit_code == 1, diff.output + diff.stderr  # 1: there is something to create
    assert "internal_error" not in diff.output + diff.stderr

    applied = at.run("apply", "-f", str(path), "--wait")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert {(name, state) for name, (state, _) in states(at).items()} == {
        ("team/m1", "ready"),
        ("team/s1", "ready"),
        ("team/s2", "ready"),
    }
