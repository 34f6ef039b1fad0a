"""kubectl conventions against a real tmux: `-o name` output fed back to the verbs,
`--layout` and `-l` filters, `get -w` printing a change, and bash completing a layout
name from the script `completion bash` prints."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def applied(env: Env, at: type[AtCli]) -> Env:
    team = layout("team", launch={"master:m1": "s", "slave:s1": "s", "slave:s2": "s"})
    team["metadata"]["labels"] = {"tier": "agents"}
    solo = layout(
        "solo",
        template=None,
        panes=[{"role": "w", "capability": "worker", "labelPattern": "w1", "launch": "s"}],
    )
    path = write(env.root / "m.yaml", team, solo, profile("s", SLEEP))
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    return env


def test_o_name_output_is_accepted_back_by_get_describe_restart_and_delete(
    applied: Env, at: type[AtCli]
) -> None:
    names = at.run("get", "panes", "-o", "name").stdout.split()
    assert names == ["pane/solo/w1", "pane/team/m1", "pane/team/s1", "pane/team/s2"]
    for name in names:
        got = at.run("get", name, "-o", "name")
        assert got.exit_code == 0 and got.stdout.strip() == name
    assert at.run("describe", "pane/team/s1").exit_code == 0
    layouts = at.run("get", "layouts", "-o", "name").stdout.split()
    assert sorted(layouts) == ["layout/solo", "layout/team"]
    assert at.json("get", "layout/team")["metadata"]["name"] == "team"  # type: ignore[index]
    assert at.run("describe", "layout/team").exit_code == 0
    restarted = at.run("restart", "pane/team/s1")
    assert restarted.exit_code == 0 and restarted.stdout.startswith("pane/team/s1 restarted as ")
    removed = at.run("remove", "pane/team/s2")
    assert removed.exit_code == 0 and removed.stdout.strip() == "pane/team/s2 removed"
    assert at.run("recreate", "pane/team/s2").exit_code == 0
    assert at.run("logs", "pane/solo/w1").exit_code == 0
    sent = at.run("send", "pane/solo/w1", "hello", "-o", "json")
    assert sent.exit_code in (0, 3) and '"solo/w1"' in sent.stdout
    deleted = at.run("delete", "layout/solo")
    assert deleted.exit_code == 0 and deleted.stdout.strip() == "layout/solo deleted"
    assert at.run("get", "layouts", "-o", "name").stdout.split() == ["layout/team"]


def test_get_agents_shows_the_current_ones_and_all_of_them_with_a(applied: Env, at: type[AtCli]) -> None:
    def agents(*flags: str) -> list[tuple[str, str]]:
        items = at.json("get", "agents", *flags)["items"]  # type: ignore[index]
        return sorted((a["spec"]["pane"], a["status"]["paneId"]) for a in items)

    def pane_ids() -> dict[str, str]:
        items = at.json("get", "panes")["items"]  # type: ignore[index]
        named = (p["metadata"] for p in items)
        return {m["name"]: m["uid"] for m in named if m["layout"] == "team"}

    first = pane_ids()
    assert at.run("restart", "pane/team/s1").exit_code == 0
    assert at.run("remove", "pane/team/s2").exit_code == 0
    assert at.run("delete", "layout/solo").exit_code == 0
    now = pane_ids()
    assert now["team/s1"] != first["team/s1"]
    assert agents() == [("team/m1", now["team/m1"]), ("team/s1", now["team/s1"])]
    everything = agents("-A")
    assert len(everything) == 5 and ("team/s1", first["team/s1"]) in everything
    assert ("team/s2", first["team/s2"]) in everything


def test_get_panes_of_one_layout_and_by_label_selector(applied: Env, at: type[AtCli]) -> None:
    assert at.run("get", "panes", "--layout", "solo", "-o", "name").stdout.split() == ["pane/solo/w1"]
    assert at.run("get", "layouts", "-l", "tier=agents", "-o", "name").stdout.split() == ["layout/team"]
    assert at.run("get", "lo", "-l", "!tier", "-o", "name").stdout.split() == ["layout/solo"]
    team_panes = at.run("get", "panes", "-l", "tier=agents", "-o", "name").stdout.split()
    assert team_panes == ["pane/team/m1", "pane/team/s1", "pane/team/s2"]
    assert at.json("get", "layout/team")["spec"] is not None  # type: ignore[index]
    none = at.run("get", "panes", "-l", "tier=nope")
    assert none.exit_code == 0 and none.stderr.strip() == "No panes found."


def test_get_watch_prints_a_pane_again_when_its_state_changes(applied: Env, at: type[AtCli]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agenttower", "get", "panes", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        eventually(lambda: len(lines) >= 5, what="the first table")  # header + 4 panes
        assert lines[0].split()[:3] == ["NAME", "ROLE", "STATE"]
        first = len(lines)
        assert at.run("remove", "pane", "team/s2").exit_code == 0
        changed = eventually(
            lambda: [ln for ln in lines[first:] if ln.startswith("team/s2")], what="a watch row"
        )
        assert changed[0].split()[2] == "removed"
        header = lines[0]
        assert changed[0].index("removed") == header.index("STATE")  # lined up under its table
        assert not [
            ln for ln in lines[first:] if ln.startswith(("team/m1", "solo/w1"))
        ]  # unchanged: not printed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bash_completes_a_layout_name_from_the_completion_script(applied: Env, at: type[AtCli]) -> None:
    script = applied.root / "agenttower.bash"
    script.write_text(at.run("completion", "bash").stdout)

    def complete(*words: str) -> list[str]:
        program = (
            f"source {script}\n"
            f"COMP_WORDS=(agenttower {' '.join(words)})\n"
            f"COMP_CWORD={len(words)}\n"
            "_agenttower_completion agenttower\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, check=True
        )
        return done.stdout.split()

    assert complete("describe", "layout", "t") == ["team"]
    assert complete("delete", "layout", "") == ["solo", "team"]
    assert complete("restart", "pane", "team/s") == ["team/s1", "team/s2"]
    assert complete("get", "pane/so") == ["pane/solo/w1"]
    assert "launchprofiles" in complete("get", "")
