"""The spine against a real tmux server: apply, re-apply, launch failure, delete."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from agenttower.model.log_header import split_runs
from tests.conftest import REPO, AtCli, Env
from tests.manifests import SLEEP, layout, pane, profile, write

pytestmark = pytest.mark.tmux


def sleepy(name: str, tpl: str = "1m+2s") -> tuple[dict[str, object], ...]:
    """A layout whose every pane runs a long sleep, so every pane can be ready."""
    labels = {
        "1m+2s": ["master:m1", "slave:s1", "slave:s2"],
        "2m+2s": ["master:m1", "master:m2", "slave:s1", "slave:s2"],
    }[tpl]
    return (layout(name, tpl, launch={k: "sleepy" for k in labels}), profile("sleepy", SLEEP))


def panes_json(at: type[AtCli]) -> list[dict[str, object]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict) and data["kind"] == "List"
    return data["items"]


def db_rows(env: Env) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(env.state_dir / "agenttower.sqlite3")
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("layouts", "panes", "agents", "outbox")
        }
    finally:
        conn.close()


def mutations(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith("list-panes")]


def test_fr004_example_manifest_converges_to_ready_panes_with_markers(env: Env, at: type[AtCli]) -> None:
    example = env.root / "team.yaml"
    shutil.copy(REPO / "desired" / "team.yaml", example)
    result = at.run("apply", "-f", str(example), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    assert "layout/team created" in result.stdout
    items = panes_json(at)
    assert [i["metadata"]["name"] for i in items] == ["team/m1", "team/s1", "team/s2"]
    assert {i["status"]["state"] for i in items} == {"ready"}
    tmux = {p["pane_id"]: p for p in env.panes()}
    for item in items:
        status = item["status"]
        assert tmux[status["tmuxPaneId"]]["record"] == status["id"]  # @agenttower_pane
        assert tmux[status["tmuxPaneId"]]["title"] == item["spec"]["label"]  # pending title cleared
        assert status["agentId"]
    assert (env.desired_dir / "team.yaml").read_text() == example.read_text()


def test_fr020_reapply_is_a_noop_one_tmux_call_no_writes(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "t.yaml", *sleepy("team"))
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    before_ids = [(p["status"]["id"], p["status"]["tmuxPaneId"]) for p in panes_json(at)]
    rows = db_rows(env)
    audit = (env.state_dir / "events.jsonl").read_text()
    env.reset_calls()
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0
    assert "layout/team unchanged" in result.stdout
    assert env.tmux_calls() == [env.tmux_calls()[0]] and env.tmux_calls()[0].startswith("list-panes")
    assert db_rows(env) == rows
    assert (env.state_dir / "events.jsonl").read_text() == audit
    assert [(p["status"]["id"], p["status"]["tmuxPaneId"]) for p in panes_json(at)] == before_ids


@pytest.mark.parametrize("count", [1, 5])
def test_creation_costs_constant_tmux_invocations(env: Env, at: type[AtCli], count: int) -> None:
    docs = [d for i in range(count) for d in (sleepy(f"l{i}", "2m+2s")[0],)]
    path = write(env.root / "many.yaml", *docs, profile("sleepy", SLEEP))
    env.reset_calls()
    assert at.run("apply", "-f", str(path)).exit_code == 0
    calls = env.tmux_calls()
    # observe; one batch that spawns every pane and probes them; one settle batch: 3 whatever the count
    assert len(calls) == 3, calls
    assert len(mutations(calls)) == 2
    assert len([p for p in env.panes() if p["record"]]) == 4 * count


def test_fr006_launch_exiting_at_once_is_degraded_siblings_ready(env: Env, at: type[AtCli]) -> None:
    path = write(
        env.root / "crash.yaml",
        layout("crash", launch={"master:m1": "exit3", "slave:s1": "sleepy", "slave:s2": "sleepy"}),
        profile("exit3", ["sh", "-c", "exit 3"]),
        profile("sleepy", SLEEP),
    )
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 3
    assert "crash/m1 is degraded (launch_command)" in result.stderr
    states = {p["spec"]["label"]: (p["status"]["state"], p["status"]["failedStage"]) for p in panes_json(at)}
    assert states == {"m1": ("degraded", "launch_command"), "s1": ("ready", None), "s2": ("ready", None)}
    events = [json.loads(line) for line in (env.state_dir / "events.jsonl").read_text().splitlines()]
    exited = [e for e in events if e["event_type"] == "managed_pane_launch_command_exited"]
    assert len(exited) == 1 and exited[0]["pane"] == "crash/m1"
    assert exited[0]["payload"]["exit_code"] == 3
    layout_item = at.json("get", "layouts", "crash")
    assert layout_item["status"]["state"] == "degraded"


def test_fr013_unwritable_log_path_is_degraded_log_attach(env: Env, at: type[AtCli]) -> None:
    logs = env.state_dir / "logs" / "host" / "solo"
    logs.mkdir(parents=True)
    (logs / "m1.log").mkdir()  # a directory where the log file should be: cannot be opened
    path = write(
        env.root / "solo.yaml",
        layout("solo", None, panes=[pane("master", "m1", "sleepy")]),
        profile("sleepy", SLEEP),
    )
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 3
    item = panes_json(at)[0]
    assert (item["status"]["state"], item["status"]["failedStage"]) == ("degraded", "log_attach")
    assert "not writable" in item["status"]["reason"]
    events = (env.state_dir / "events.jsonl").read_text()
    assert "managed_pane_log_attach_failed" in events


def test_delete_kills_exactly_the_managed_panes(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "team.yaml", *sleepy("team"))
    assert at.run("apply", "-f", str(path)).exit_code == 0
    user = env.tmux("split-window", "-t", "=team:", "-P", "-F", "#{pane_id}", "sleep 600").stdout.strip()
    result = at.run("delete", "-f", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    assert "layout/team deleted" in result.stdout
    left = env.panes()
    assert [p["pane_id"] for p in left] == [user]
    items = at.json("get", "panes", "--all")["items"]  # type: ignore[index]
    assert len(items) == 3 and {i["status"]["state"] for i in items} == {"removed"}
    assert not (env.desired_dir / "team.yaml").exists()
    assert at.json("get", "layouts")["items"] == []  # type: ignore[index]


def test_delete_layout_by_name_keeps_other_documents_byte_for_byte(env: Env, at: type[AtCli]) -> None:
    one, two = sleepy("one")[0], sleepy("two")[0]
    path = write(env.root / "both.yaml", one, two, profile("sleepy", SLEEP))
    assert at.run("apply", "-f", str(path)).exit_code == 0
    original = (env.desired_dir / "both.yaml").read_text()
    assert at.run("delete", "layout", "one").exit_code == 0
    remaining = (env.desired_dir / "both.yaml").read_text()
    assert remaining == original.replace(original[: original.index("---\n") + 4], "", 1)
    assert {p["session"] for p in env.panes()} == {"two"}


def test_diff_exit_codes_and_causes(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "t.yaml", *sleepy("team"))
    result = at.run("diff", "-f", str(path))
    assert result.exit_code == 1
    assert "create layout team (m1, s1, s2)" in result.stdout and "# layout missing" in result.stdout
    assert not env.server_running()  # diff changes nothing, starts nothing
    assert at.run("apply", "-f", str(path)).exit_code == 0
    assert at.run("diff", "-f", str(path)).exit_code == 0
    env.tmux("kill-pane", "-t", panes_json(at)[1]["status"]["tmuxPaneId"])
    result = at.run("diff", "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["actions"][0]["cause"] == "pane vanished from tmux"


def test_dry_run_changes_nothing(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "t.yaml", *sleepy("team"))
    result = at.run("apply", "-f", str(path), "--dry-run")
    assert result.exit_code == 0 and "(dry run)" in result.stdout
    assert not env.server_running()
    assert not (env.desired_dir / "t.yaml").exists()


def test_fr016_foreign_session_of_same_name_conflicts(env: Env, at: type[AtCli]) -> None:
    env.tmux("new-session", "-d", "-s", "team", "sleep 600")
    path = write(env.root / "t.yaml", *sleepy("team"))
    result = at.run("apply", "-f", str(path), "-o", "json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "managed_session_name_conflict"
    assert error["details"]["tmux_session_name"] == "team" and error["details"]["container_id"] == "host"
    assert len(env.panes()) == 1 and not (env.desired_dir / "t.yaml").exists()


def test_hostile_argv_and_env_reach_the_process_unchanged(env: Env, at: type[AtCli]) -> None:
    hostile = [
        "it's",
        'say "hi"',
        "a;",
        "#{pane_id}",
        "%H:%M",
        "$HOME",
        "~",
        "back\\slash",
        "new\nline",
        "{brace}",
        "tab\there",
        "semi ; colon",
        "%if 1",
    ]
    env_values = {f"V{i}": v for i, v in enumerate(hostile)}
    script = 'for a in "$@"; do printf "<%s>" "$a"; done; echo; env | grep "^V[0-9]" | sort; exec sleep 600'
    path = write(
        env.root / "h.yaml",
        layout("hostile", None, panes=[pane("master", "m1", "weird")]),
        profile("weird", ["sh", "-c", script, "sh", *hostile], env=env_values),
    )
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.stderr
    log = env.state_dir / "logs" / "host" / "hostile" / "m1.log"
    text = log.read_text().replace("\r", "")
    assert "".join(f"<{h}>" for h in hostile).replace("\n", "\n") in text.replace("\n", "\n")
    for key, value in env_values.items():
        if "\n" not in value:
            assert f"{key}={value}" in text
    (run,) = split_runs(log.read_bytes())  # the run's header names the argv exactly, on one line
    assert run.header is not None and run.header.argv == ("sh", "-c", script, "sh", *hostile)
