"""`get`, `describe` and their error codes, against records a real apply produced."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml

from tests.conftest import AtCli, Env, eventually
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


@pytest.fixture
def applied(env: Env, at: type[AtCli]) -> Env:
    path = write(
        env.root / "team.yaml",
        layout("team", launch={"master:m1": "secretive", "slave:s1": "s", "slave:s2": "s"}),
        profile("secretive", SLEEP, env={"API_TOKEN": "hunter2", "MODE": "plain"}),
        profile("s", SLEEP),
    )
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    return env


def test_get_formats(applied: Env, at: type[AtCli]) -> None:
    table = at.run("get", "panes")
    assert table.exit_code == 0 and table.stdout.split()[:8] == [
        "NAME",
        "ROLE",
        "STATE",
        "STAGE",
        "ACTIVITY",
        "TMUX",
        "AGE",
        "OBSERVED",
    ]
    assert at.run("get", "panes", "-o", "wide").stdout.split()[8:13] == [
        "ID",
        "PREDECESSOR",
        "DEPTH",
        "AGENT",
        "REASON",
    ]
    assert at.run("get", "layouts", "-o", "name").stdout.split() == ["layout/team"]
    as_yaml = yaml.safe_load(at.run("get", "layouts", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "List" and as_yaml["items"][0]["status"]["readyPanes"] == 3
    one = at.json("get", "layouts", "team")
    assert isinstance(one, dict) and one["kind"] == "Layout"
    assert one["status"]["state"] == "ready" and one["status"]["totalPanes"] == 3
    pane = at.json("get", "panes", "team/m1")
    assert isinstance(pane, dict)
    assert set(pane["status"]) >= {
        "state",
        "failedStage",
        "id",
        "tmuxPaneId",
        "predecessorId",
        "chainDepth",
        "agentId",
    }
    assert pane["metadata"] | {} == pane["metadata"] and pane["metadata"]["layout"] == "team"
    agents = at.json("get", "agents")
    assert isinstance(agents, dict)
    assert {a["spec"]["origin"] for a in agents["items"]} == {"managed"} and len(agents["items"]) == 3


def test_fr021_secrets_never_leave_redacted(applied: Env, at: type[AtCli]) -> None:
    outputs = [at.run("get", "panes", "-o", fmt).stdout for fmt in ("json", "yaml")]
    outputs.append(at.run("describe", "pane", "team/m1").stdout)
    outputs.append(at.run("describe", "layout", "team", "-o", "json").stdout)
    outputs.append((applied.state_dir / "events.jsonl").read_text())
    for text in outputs:
        assert "hunter2" not in text
    # the last good spec (kept to hold a layout whose manifest breaks) is owner-only, like the manifest
    for db in applied.state_dir.glob("agenttower.sqlite3*"):
        assert db.stat().st_mode & 0o077 == 0
    assert "plain" in outputs[0] and "***" in outputs[0]


def test_describe_shows_states_and_events(applied: Env, at: type[AtCli]) -> None:
    text = at.run("describe", "layout", "team").stdout
    assert "state:" in text and "team/m1" in text and "managed_layout_created" in text
    pane = at.run("describe", "pane", "team/s1").stdout
    assert "managed_pane_state_changed" in pane and "slave" in pane


@pytest.mark.parametrize(
    "args, code, keys",
    [
        (("get", "layouts", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("get", "panes", "team/ghost"), "managed_pane_not_found", {"pane_id"}),
        (("describe", "layout", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("delete", "layout", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("get", "gadgets"), "validation_failed", {"field", "reason"}),
    ],
)
def test_not_found_codes_as_text_and_json(
    applied: Env, at: type[AtCli], args: tuple[str, ...], code: str, keys: set[str]
) -> None:
    text = at.run(*args)
    assert text.exit_code == 1 and text.stderr.startswith(f"error: {code}: ")
    as_json = at.run(*args, "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 1 and error["code"] == code and keys <= set(error["details"])


def test_a_tmux_variable_in_the_environment_is_ignored(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", "/nonexistent/socket,1,0")
    path = write(
        env.root / "t.yaml",
        layout("solo", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1"}]),
    )
    assert at.run("apply", "-f", str(path)).exit_code == 0
    monkeypatch.delenv("TMUX")
    assert [p["session"] for p in env.panes()] == ["solo"]


def test_fr007_a_deleted_layout_is_not_ready_and_wait_on_it_fails(applied: Env, at: type[AtCli]) -> None:
    assert at.run("wait", "layout", "team", "--for=condition=Ready", "--timeout", "5s").exit_code == 0
    assert at.run("delete", "layout", "team").exit_code == 0
    item = at.json("get", "layouts", "team")
    assert isinstance(item, dict) and item["status"]["state"] == "removed"
    ready = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
    removed_at = item["status"]["removedAt"]
    assert (ready["status"], ready["reason"]) == ("False", "LayoutRemoved")
    assert ready["message"] == f"layout team was deleted at {removed_at}"
    for wanted in ("Ready", "Ready=False"):  # a deleted layout meets no condition: it is gone
        waited = at.run("wait", "layout", "team", f"--for=condition={wanted}", "--timeout", "30s")
        assert waited.exit_code == 1
        assert waited.stderr == f"error: managed_layout_not_found: layout team was deleted at {removed_at}\n"
    as_json = at.run("wait", "layout", "team", "--for=condition=Ready", "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 1 and error["details"] == {"layout_id": item["metadata"]["uid"]}


# ---- FR-022: the read verbs show what is, not what was ---------------------------------


@contextmanager
def store_untouched(env: Env) -> Iterator[None]:
    """The block leaves SQLite and the audit trail exactly as they were."""
    db = env.state_dir / "agenttower.sqlite3"
    audit = env.state_dir / "events.jsonl"
    watcher = sqlite3.connect(db)  # data_version moves when any other connection commits
    try:
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        rows = watcher.execute("SELECT count(*) FROM outbox").fetchone()[0]
        stamp, events = db.stat().st_mtime_ns, audit.read_bytes()
        yield
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
        assert watcher.execute("SELECT count(*) FROM outbox").fetchone()[0] == rows
        assert (db.stat().st_mtime_ns, audit.read_bytes()) == (stamp, events)
    finally:
        watcher.close()


def listings(env: Env) -> list[str]:
    calls = env.tmux_calls()
    assert all(call.startswith("list-panes -a -F") for call in calls), calls  # reads only
    return calls


def status_of(at: type[AtCli], name: str) -> dict[str, Any]:
    item = at.json("get", "panes", name)
    assert isinstance(item, dict)
    return item["status"]  # type: ignore[no-any-return]


def test_fr022_get_without_controller_shows_vanished_pane_live(applied: Env, at: type[AtCli]) -> None:
    applied.tmux("kill-pane", "-t", status_of(at, "team/s1")["tmuxPaneId"])
    applied.reset_calls()
    with store_untouched(applied):
        panes = at.json("get", "panes")
        assert len(listings(applied)) == 1  # one list-panes for the one target
        layout_item = at.json("get", "layouts", "team")
        table = at.run("get", "panes").stdout
        described = at.run("describe", "layout", "team").stdout
        doctor = at.run("doctor")
    assert isinstance(panes, dict) and isinstance(layout_item, dict)
    by_name = {p["metadata"]["name"]: p["status"] for p in panes["items"]}
    s1 = by_name["team/s1"]
    assert (s1["state"], s1["failedStage"], s1["reason"]) == (
        "failed",
        "recovery_reattach",
        "pane vanished from tmux",
    )
    assert {by_name[n]["state"] for n in ("team/m1", "team/s2")} == {"ready"}
    assert {s["observation"] for s in by_name.values()} == {"live"}
    assert all(s["observedAt"] for s in by_name.values())
    status = layout_item["status"]
    assert (status["state"], status["readyPanes"], status["observation"]) == ("failed", 2, "live")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PanesNotReady")
    assert "s1: failed (recovery_reattach)" in ready["message"]
    row = next(line for line in table.splitlines() if line.startswith("team/s1"))
    assert row.split()[2:4] == ["failed", "recovery_reattach"] and row.split()[-1] == "live"
    assert "observed:     live, tmux listed at " in described
    assert "team/s1" in described and "failed (recovery_reattach)" in described
    layout_line = next(line for line in doctor.stdout.splitlines() if "layout team" in line)
    assert layout_line.startswith("WARN") and "team/s1 failed (recovery_reattach)" in layout_line
    assert "fix: `agenttower recreate pane team/s1`" in doctor.stdout
    assert doctor.exit_code == 0  # a failed pane is not a broken installation
    # the next pass records exactly what the read showed
    assert at.run("apply", "-f", str(applied.desired_dir / "team.yaml")).exit_code == 0
    recorded = status_of(at, "team/s1")
    assert (recorded["state"], recorded["failedStage"], recorded["reason"]) == (
        s1["state"],
        s1["failedStage"],
        s1["reason"],
    )


def test_fr022_get_without_controller_shows_exited_agent_degraded_with_its_status(
    env: Env, at: type[AtCli]
) -> None:
    gate = env.root / "exit-now"
    waits = ["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 7"]
    launch = {"master:m1": "s", "slave:s1": "waits", "slave:s2": "s"}
    path = write(
        env.root / "team.yaml", layout("team", launch=launch), profile("s", SLEEP), profile("waits", waits)
    )
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    tmux_id = status_of(at, "team/s1")["tmuxPaneId"]
    gate.touch()
    # dead with its status: Debian's tmux can miss the SIGCHLD of a pane whose pty closed first
    # (a zombie until another child of the server exits); a pass nudges it, a reader does not
    status = ["display-message", "-p", "-t", tmux_id, "#{pane_dead}:#{pane_dead_status}"]

    def exited() -> bool:
        seen = env.tmux(*status).stdout.strip()
        if seen == "1:":
            env.tmux("run-shell", "true")
        return seen == "1:7"

    eventually(exited, what="exit")
    env.reset_calls()
    with store_untouched(env):
        s1 = status_of(at, "team/s1")
    assert len(listings(env)) == 1
    assert (s1["state"], s1["failedStage"], s1["exitCode"]) == ("degraded", "launch_command", 7)
    assert s1["reason"] == "process exited with status 7" and s1["observation"] == "live"


def test_fr022_an_unlistable_target_shows_records_as_stale(
    applied: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    applied.tmux("kill-pane", "-t", status_of(at, "team/s1")["tmuxPaneId"])
    applied.reset_calls()
    monkeypatch.setenv("AGENTTOWER_STAGE_TIMEOUT", "500ms")
    monkeypatch.setenv("AT_SLOW_CALL", "1")  # the listing does not answer in time
    with store_untouched(applied):
        table = at.run("get", "panes")
    assert len(listings(applied)) == 1  # a reader does not retry
    row = next(line for line in table.stdout.splitlines() if line.startswith("team/s1"))
    assert row.split()[2] == "ready" and row.split()[-1] == "stale"  # never guessed
    assert table.stderr.startswith("note: target host could not be listed (tmux timed out")
    s1 = status_of(at, "team/s1")  # AT_SLOW_CALL was the first call only: live again
    assert s1["state"] == "failed" and s1["observation"] == "live"
