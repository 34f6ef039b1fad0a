"""Killing a pane stops what it started: agents that ignore SIGHUP do not outlive
`remove`, `delete`, a restart or `tmux kill-server` plus a pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux

# Gemini CLI ignores SIGHUP; this ignores TERM as well, so only KILL stops it.
STUBBORN = "import signal,time; [signal.signal(s, signal.SIG_IGN) for s in (1, 15)]; time.sleep(1e5)"
HUPIGN = ["python3", "-c", STUBBORN]
LAUNCH = {"master:m1": "stubborn", "slave:s1": "stubborn", "slave:s2": "stubborn"}


@pytest.fixture(autouse=True)
def _short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTTOWER_KILL_GRACE", "300ms")
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "0s")


def processes_of(record_id: str) -> set[int]:
    """Live (not zombie) processes whose environment names this pane record: the test's
    own look at /proc, independent of agenttower's."""
    marker = f"AGENTTOWER_PANE_ID={record_id}".encode()
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue
        found.add(int(proc.name))
    return found


def ids(at: type[AtCli]) -> dict[str, str]:
    items = at.json("get", "panes")["items"]  # type: ignore[index]
    return {p["spec"]["label"]: p["status"]["id"] for p in items if p["status"]["state"] != "removed"}


def manifest(env: Env, **spec: Any) -> Path:
    docs = [layout("team", launch=LAUNCH, **spec), profile("stubborn", HUPIGN)]
    return write(env.root / "team.yaml", *docs)


def up(at: type[AtCli], path: Path) -> dict[str, str]:
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    current = ids(at)
    for record in current.values():
        eventually(lambda r=record: processes_of(r), what="the agent process")  # type: ignore[misc]
    return current


def test_fr009_remove_stops_a_sighup_ignoring_agent_and_only_it(env: Env, at: type[AtCli]) -> None:
    first = up(at, manifest(env))
    result = at.run("remove", "pane", "team/s1")
    assert result.exit_code == 0, result.output + result.stderr
    assert processes_of(first["s1"]) == set()
    assert processes_of(first["m1"]) and processes_of(first["s2"])  # siblings untouched
    removed = [
        json.loads(line)
        for line in (env.state_dir / "events.jsonl").read_text().splitlines()
        if '"managed_pane_removed"' in line
    ]
    assert removed[-1]["payload"]["stopped_pids"]  # it had to be stopped: SIGHUP was not enough


def test_fr009_delete_stops_every_agent_of_the_layout(env: Env, at: type[AtCli]) -> None:
    first = up(at, manifest(env))
    assert at.run("delete", "layout", "team").exit_code == 0
    assert {label: processes_of(r) for label, r in first.items()} == {label: set() for label in first}


def test_fr022_after_kill_server_a_pass_stops_the_orphaned_agents(env: Env, at: type[AtCli]) -> None:
    path = manifest(env)
    first = up(at, path)
    env.tmux("kill-server")
    eventually(lambda: not env.server_running(), what="the tmux server to exit")
    assert all(processes_of(r) for r in first.values())  # they outlived their server
    result = at.run("apply", "-f", str(path))  # a pass: the panes vanished
    assert result.exit_code == 0, result.output + result.stderr
    assert {label: processes_of(r) for label, r in first.items()} == {label: set() for label in first}


def test_fr022_always_after_kill_server_one_agent_per_slot(env: Env, at: type[AtCli]) -> None:
    path = manifest(env, restartPolicy="Always")
    first = up(at, path)
    env.tmux("kill-server")
    eventually(lambda: not env.server_running(), what="the tmux server to exit")

    def recreated() -> dict[str, str] | None:
        at.run("apply", "-f", str(path), "--wait")
        now = ids(at)
        return now if set(now) == set(first) and not set(now.values()) & set(first.values()) else None

    second = eventually(recreated, what="every slot recreated")
    assert {label: processes_of(r) for label, r in first.items()} == {label: set() for label in first}
    assert all(len(processes_of(r)) == 1 for r in second.values())


def test_fr013_restart_of_a_dead_pane_stops_what_its_agent_left_behind(env: Env, at: type[AtCli]) -> None:
    """The agent exits but leaves a SIGHUP-ignoring helper running in the dead pane (as
    Codex leaves its app-server): the restart must not leave it beside the new agent."""
    leaky = ["sh", "-c", f"python3 -c '{STUBBORN}' & sleep 0.5; exit 3"]
    docs = [
        layout("team", launch={"slave:s1": "leaky"}, restartPolicy="OnFailure"),
        profile("leaky", leaky),
    ]
    path = write(env.root / "team.yaml", *docs)
    at.run("apply", "-f", str(path), "--wait")
    first = ids(at)["s1"]
    eventually(lambda: processes_of(first), what="the helper the agent left")

    def restarted() -> str | None:
        at.run("apply", "-f", str(path))
        now = ids(at).get("s1")
        return now if now and now != first else None

    eventually(restarted, what="s1 restarted by its policy")
    assert processes_of(first) == set()
