"""FEAT-013 rules through the CLI, by requirement id, against a real tmux server."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


def team(env: Env, name: str = "team", **spec: Any) -> Path:
    launch = {k: "sleepy" for k in ("master:m1", "slave:s1", "slave:s2")}
    return write(env.root / f"{name}.yaml", layout(name, launch=launch, **spec), profile("sleepy", SLEEP))


def ok(at: type[AtCli], *args: str) -> dict[str, Any]:
    result = at.run(*args, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def pane(at: type[AtCli], name: str) -> dict[str, Any]:
    return ok(at, "get", "panes", name)


def all_panes(at: type[AtCli]) -> list[dict[str, Any]]:
    return ok(at, "get", "panes", "--all")["items"]  # type: ignore[no-any-return]


def error(at: type[AtCli], *args: str) -> dict[str, Any]:
    """Run a verb that must fail: check the text form and return the JSON form's error."""
    text = at.run(*args)
    as_json = at.run(*args, "-o", "json")
    assert text.exit_code == as_json.exit_code == 1, text.stderr
    wire = json.loads(as_json.stdout)["error"]
    assert text.stderr.startswith(f"error: {wire['code']}: "), text.stderr
    return wire  # type: ignore[no-any-return]


# ---- FR-009: remove -------------------------------------------------------------------


def test_fr009_remove_kills_keeps_history_and_the_slot_stays_removed(env: Env, at: type[AtCli]) -> None:
    path = team(env)
    assert at.run("apply", "-f", str(path)).exit_code == 0
    before = pane(at, "team/s1")
    result = ok(at, "remove", "pane", "team/s1")
    assert result["state"] == "removed"
    assert before["status"]["tmuxPaneId"] not in {p["pane_id"] for p in env.panes()}
    assert len(env.panes()) == 2
    for _ in range(2):  # later passes and re-applies leave it removed
        assert at.run("apply", "-f", str(path)).exit_code == 0
    assert pane(at, "team/s1")["status"]["state"] == "removed"
    diff = at.run("diff", "-f", str(path))  # nothing to do, and the removed slot is shown
    assert diff.exit_code == 0 and "team/s1: removed by operator" in diff.stdout
    assert len(env.panes()) == 2
    assert pane(at, "team/s1")["status"]["agentId"]  # history kept: the agent row too
    again = error(at, "remove", "pane", "team/s1")
    assert again["code"] == "managed_pane_illegal_transition"
    assert again["message"].endswith("run `agenttower recreate pane team/s1` to bring the slot back")


def test_fr009_remove_of_a_pane_already_gone_succeeds(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    env.tmux("kill-pane", "-t", pane(at, "team/m1")["status"]["tmuxPaneId"])
    assert ok(at, "remove", "pane", "team/m1")["state"] == "removed"


def test_fr009_remove_of_a_creating_pane_is_an_illegal_transition(env: Env, at: type[AtCli]) -> None:
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "agenttower", "apply", "-f", str(team(env))],
        env={**os.environ, "AT_HANG_AT": "2"},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while len(env.tmux_calls()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, env.tmux_calls()
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wire = error(at, "remove", "pane", "team/s1")
    assert wire["code"] == "managed_pane_illegal_transition"
    assert wire["details"]["current_state"] == "creating" and wire["details"]["requested_action"] == "remove"


# ---- FR-010/011/012: recreate ------------------------------------------------------------


def test_fr010_recreate_links_a_new_record_with_the_same_slot(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    old = pane(at, "team/s2")
    ok(at, "remove", "pane", "team/s2")
    result = ok(at, "recreate", "pane", "team/s2")
    new = pane(at, "team/s2")
    assert new["status"]["id"] == result["id"] != old["status"]["id"]
    assert new["status"]["predecessorId"] == old["status"]["id"] and new["status"]["chainDepth"] == 1
    assert (new["spec"]["role"], new["spec"]["capability"], new["spec"]["label"]) == (
        old["spec"]["role"],
        old["spec"]["capability"],
        old["spec"]["label"],
    )
    assert new["status"]["state"] == "ready"
    events = (env.state_dir / "events.jsonl").read_text()
    assert '"managed_pane_recreated"' in events


def test_fr010_recreate_from_a_live_pane_is_refused(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    wire = error(at, "recreate", "pane", "team/m1")
    assert wire["code"] == "managed_pane_illegal_recreate_source"
    assert wire["message"] == (  # a whole sentence, with the step that makes it recreatable
        "pane team/m1 is ready: only failed or removed panes can be recreated; "
        "run `agenttower remove pane team/m1` first"
    )
    assert wire["details"] == {
        "predecessor_pane_id": pane(at, "team/m1")["status"]["id"],
        "current_state": "ready",
    }


def test_fr010_recreate_with_another_launch_profile(env: Env, at: type[AtCli]) -> None:
    path = write(
        env.root / "t.yaml",
        layout("team", launch={"master:m1": "sleepy"}),
        profile("sleepy", SLEEP),
        profile("other", ["sh", "-c", "echo other; exec sleep 600"]),
    )
    assert at.run("apply", "-f", str(path)).exit_code == 0
    ok(at, "remove", "pane", "team/m1")
    wire = error(at, "recreate", "pane", "team/m1", "--launch", "ghost")
    assert wire["code"] == "managed_launch_command_not_found"
    assert set(wire["details"]) >= {"profile_name", "known_profiles"}
    ok(at, "recreate", "pane", "team/m1", "--launch", "other")
    assert pane(at, "team/m1")["spec"]["launch"]["profile"] == "other"
    assert pane(at, "team/m1")["status"]["outdated"] is True


def test_fr011_chain_depth_is_capped_at_16(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", "0s")
    path = write(
        env.root / "one.yaml",
        layout("one", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "s"}]),
        profile("s", SLEEP),
    )
    assert at.run("apply", "-f", str(path)).exit_code == 0
    for depth in range(1, 17):
        ok(at, "remove", "pane", "one/m1")
        assert ok(at, "recreate", "pane", "one/m1")["chainDepth"] == depth
    ok(at, "remove", "pane", "one/m1")
    wire = error(at, "recreate", "pane", "one/m1")
    assert wire["code"] == "managed_pane_recreate_chain_too_deep"
    assert wire["details"]["predecessor_chain_depth"] == 16 and wire["details"]["limit"] == 16


def test_fr011_depth_restarts_after_a_predecessor_ready_ten_minutes(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    ok(at, "remove", "pane", "team/s1")
    ok(at, "recreate", "pane", "team/s1")
    first = pane(at, "team/s1")
    assert first["status"]["chainDepth"] == 1
    conn = sqlite3.connect(env.state_dir / "agenttower.sqlite3")  # ten minutes pass, in the record
    conn.execute("UPDATE panes SET ready_at='2020-01-01T00:00:00.000Z' WHERE id=?", (first["status"]["id"],))
    conn.commit()
    conn.close()
    ok(at, "remove", "pane", "team/s1")
    again = ok(at, "recreate", "pane", "team/s1")
    assert again["chainDepth"] == 0 and again["predecessorId"] == first["status"]["id"]


def test_fr012_concurrent_recreate_and_idempotent_replay(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    source = pane(at, "team/s1")["status"]["id"]
    ok(at, "remove", "pane", "team/s1")
    first = ok(at, "recreate", "pane", source, "--idempotency-key", "k-1")
    replay = ok(at, "recreate", "pane", source, "--idempotency-key", "k-1")
    assert replay == {**first, "replay": True}
    wire = error(at, "recreate", "pane", source)
    assert wire["code"] == "managed_pane_concurrent_recreate"
    assert wire["details"] == {"predecessor_pane_id": source, "in_flight_successor_pane_id": first["id"]}
    assert len([p for p in all_panes(at) if p["spec"]["label"] == "s1"]) == 2
    assert len(env.panes()) == 3


# ---- FR-023/027: adopted panes ------------------------------------------------------------


def test_fr023_adopted_panes_are_recorded_and_never_touched(env: Env, at: type[AtCli]) -> None:
    path = team(env)
    assert at.run("apply", "-f", str(path)).exit_code == 0
    user = env.tmux("split-window", "-t", "=team:", "-P", "-F", "#{pane_id}", "sleep 600").stdout.strip()
    scanned = ok(at, "scan")["panes"]
    assert [p["tmuxPaneId"] for p in scanned] == [user]
    agent = ok(at, "adopt", user, "--layout", "team", "--label", "u1", "--role", "helper")
    assert ok(at, "scan")["panes"][0]["adoptedAs"] == agent["agentId"]
    agents = ok(at, "get", "agents")["items"]
    assert {a["spec"]["origin"] for a in agents} == {"managed", "adopted"}
    for verb in (("remove", "pane", "team/u1"), ("recreate", "pane", "team/u1"), ("remove", "pane", user)):
        wire = error(at, *verb)
        assert wire["code"] == "managed_pane_protected_adopted"
        assert wire["details"] == {"agent_id": agent["agentId"], "is_adopted": True}
    assert (
        error(at, "adopt", "%999", "--layout", "t", "--label", "x", "--role", "r")["code"]
        == "managed_pane_not_found"
    )
    assert at.run("delete", "-f", str(path)).exit_code == 0
    assert [p["pane_id"] for p in env.panes()] == [user]


def test_fr014_scan_never_lists_a_pane_with_a_pending_marker(env: Env, at: type[AtCli]) -> None:
    env.tmux("new-session", "-d", "-s", "work", "sleep 600")
    env.tmux("set-option", "-p", "-t", "=work:", "@agenttower_pending", "tok123")
    env.tmux("split-window", "-t", "=work:", "sleep 600")
    scanned = ok(at, "scan")["panes"]
    assert len(scanned) == 1 and scanned[0]["session"] == "work"
    pending = [p for p in env.panes()]
    assert len(pending) == 2


def test_fr027_promote_is_reserved(env: Env, at: type[AtCli]) -> None:
    wire = error(at, "promote", "%1")
    assert wire["code"] == "not_implemented" and wire["details"] == {}


# ---- FR-007/016: no cascade, conflicts checked again at spawn time ----------------------


def test_fr007_one_layouts_failure_never_stops_another_in_the_same_batch(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        env.root / "two.yaml",
        layout("aaa", launch={"master:m1": "sleepy"}),
        layout("bbb", launch={"master:m1": "sleepy"}),
        profile("sleepy", SLEEP),
    )
    monkeypatch.setenv("AT_BEFORE_SOURCE", "new-session -d -s bbb sleep 600")  # a race: someone takes "bbb"
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 3
    states = {
        p["metadata"]["name"]: (p["status"]["state"], p["status"]["failedStage"])
        for p in ok(at, "get", "panes")["items"]
    }
    assert {v for k, v in states.items() if k.startswith("aaa/")} == {("ready", None)}
    assert {v for k, v in states.items() if k.startswith("bbb/")} == {("failed", "pane_create")}
    foreign = [p for p in env.panes() if p["session"] == "bbb"]
    assert len(foreign) == 1 and not foreign[0]["record"]  # the other client's pane, untouched


def test_fr016_session_conflict_text_and_json(env: Env, at: type[AtCli]) -> None:
    env.tmux("new-session", "-d", "-s", "team", "sleep 600")
    wire = error(at, "apply", "-f", str(team(env)))
    assert wire["code"] == "managed_session_name_conflict"
    assert {"container_id", "tmux_session_name"} <= set(wire["details"])


# ---- FR-025: capacity ---------------------------------------------------------------------


def test_fr025_the_41st_layout_is_refused(env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", "0s")
    one = [{"role": "m", "capability": "c", "labelPattern": "m1"}]
    docs = [layout(f"l{i:02d}", None, panes=one) for i in range(40)]
    assert at.run("apply", "-f", str(write(env.root / "forty.yaml", *docs))).exit_code == 0
    wire = error(at, "apply", "-f", str(write(env.root / "more.yaml", layout("extra", None, panes=one))))
    assert wire["code"] == "managed_layout_capacity_exceeded"
    assert wire["details"]["current_count"] == 40 and wire["details"]["limit"] == 40
    assert len(ok(at, "get", "layouts")["items"]) == 40


# ---- FR-026: timeouts and retries -----------------------------------------------------------


def test_fr026_a_tmux_call_that_times_out_is_retried(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTOWER_STAGE_TIMEOUT", "1s")
    monkeypatch.setenv("AT_SLOW_CALL", "1")  # the first listing does not answer in time
    result = at.run("apply", "-f", str(team(env)), "--wait")
    assert result.exit_code == 0, result.stderr
    calls = env.tmux_calls()
    assert calls[0].startswith("list-panes") and calls[1].startswith("list-panes")  # retried once
    assert len(env.panes()) == 3


# ---- internal errors carry no exception text -------------------------------------------------


def test_internal_error_has_no_exception_text(env: Env, at: type[AtCli]) -> None:
    env.state_dir.mkdir(parents=True)
    (env.state_dir / "agenttower.sqlite3").mkdir()  # not a database
    wire = error(at, "get", "panes")
    db = env.state_dir / "agenttower.sqlite3"
    # a storage fault is said as such (reliability.md#storage-faults), without exception text
    assert wire["code"] == "internal_error"
    assert wire["details"] == {"path": str(db), "reason": "not_a_database", "file": "database"}
    assert wire["message"].startswith(f"the database {db} is not an SQLite database; ")
    assert "sqlite3." not in wire["message"] and "Error" not in wire["message"]


def test_every_closed_set_code_is_covered_by_a_cli_test() -> None:
    from agenttower.model.errors import ErrorCode

    here = Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_*.py"))
    missing = [c.value for c in ErrorCode if f'"{c.value}"' not in text]
    assert missing == [] or (
        missing == ["container_not_found"] and not (here / "test_containers.py").exists()
    ), missing


Check = Callable[[], None]


# ---- FR-020: idempotency keys on apply; concurrent lifecycle verbs; events --------------------


def test_fr020_apply_with_an_idempotency_key_replays_instead_of_starting_again(
    env: Env, at: type[AtCli]
) -> None:
    path = team(env)
    first = ok(at, "apply", "-f", str(path), "--idempotency-key", "deploy-1")
    assert first["layouts"] == [{"name": "team", "result": "created"}]
    env.reset_calls()
    again = at.run("apply", "-f", str(path), "--idempotency-key", "deploy-1")
    assert again.exit_code == 0 and "layout/team created (replay)" in again.stdout
    assert env.tmux_calls() == []  # replayed: nothing observed, nothing started
    path.write_text(path.read_text().replace("600", "601"))
    wire = error(at, "apply", "-f", str(path), "--idempotency-key", "deploy-1")
    assert wire["code"] == "validation_failed" and wire["details"]["field"] == "idempotency_key"


def test_fr012_two_processes_recreating_one_pane_make_one_successor(env: Env, at: type[AtCli]) -> None:
    import subprocess
    import sys

    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    source = pane(at, "team/s1")["status"]["id"]
    ok(at, "remove", "pane", "team/s1")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "agenttower", "recreate", "pane", source, "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1, 1], outs
    refused = [
        json.loads(out)["error"]["code"] for (out, _), p in zip(outs, procs, strict=True) if p.returncode
    ]
    assert set(refused) == {"managed_pane_concurrent_recreate"}
    assert not any("locked" in err for _, err in outs)
    assert len([p for p in all_panes(at) if p["spec"]["label"] == "s1"]) == 2
    assert len(env.panes()) == 3


def test_fr015_events_verb_filters_and_prints_json_lines(env: Env, at: type[AtCli]) -> None:
    assert at.run("apply", "-f", str(team(env))).exit_code == 0
    ok(at, "remove", "pane", "team/s2")
    result = at.run("events", "--pane", "team/s2", "-o", "json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and {e["pane"] for e in lines} == {"team/s2"}
    assert [e["pane_seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["event_type"] in (
        "managed_pane_removed",
        "managed_layout_state_changed",
        "managed_pane_state_changed",
    )
    assert {
        "event_id",
        "timestamp",
        "event_type",
        "actor",
        "layout",
        "layout_id",
        "pane",
        "pane_id",
        "layout_seq",
        "pane_seq",
        "payload",
    } <= set(lines[0])
    text = at.run("events", "--layout", "team").stdout
    assert "managed_layout_created" in text and "managed_pane_removed" in text
