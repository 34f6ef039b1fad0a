"""Crash-loop sense on a real tmux server: an agent that fails the same way on every start
is held after its second start (not restarted until the chain limit), and `describe
pane` shows what it printed before it exited.

Each `apply` of the same manifest is one pass, so the test counts passes and records,
not seconds: pass 1 creates the pane (it exits at the launch probe), pass 2 restarts it
(the first restart in a row is immediate), pass 3 holds it, pass 4 changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, AtCli, Env
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux

STANDIN = str(REPO / "tests" / "agents" / "standin.py")


def _manifest(env: Env, command: list[str], profile_spec: dict[str, Any] | None = None) -> Path:
    solo = [{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "agent"}]
    agent = profile("agent", command, **(profile_spec or {}))
    docs = [layout("solo", None, restartPolicy="Always", panes=solo), agent]
    return write(env.root / "solo.yaml", *docs)


def _records(at: type[AtCli]) -> list[dict[str, Any]]:
    data = at.json("get", "panes", "--all")
    assert isinstance(data, dict)
    return list(data["items"])


def _events(env: Env, kind: str) -> list[dict[str, Any]]:
    lines = (env.state_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event_type"] == kind]


def _passes(at: type[AtCli], path: Path, count: int) -> None:
    for _ in range(count):
        result = at.run("apply", "-f", str(path))
        assert result.exit_code == 0, result.output + result.stderr


@pytest.mark.parametrize(
    ("command", "extra", "code", "line"),
    [
        (
            [sys.executable, STANDIN],
            {"env": {"STANDIN_OFFLINE": "1"}},
            1,
            "Unable to connect to Anthropic services",
        ),
        # env quotes the name as the locale says (plain or curly quotes): the rest is fixed
        (["env", "claude-not-installed"], {}, 127, "No such file or directory"),
    ],
    ids=["offline", "missing-binary"],
)
def test_an_agent_failing_the_same_way_twice_is_held_with_its_last_output(
    env: Env, at: type[AtCli], command: list[str], extra: dict[str, Any], code: int, line: str
) -> None:
    path = _manifest(env, command, extra)
    _passes(at, path, 1)
    (first,) = _records(at)
    assert (first["status"]["state"], first["status"]["exitCode"]) == ("degraded", code)
    _passes(at, path, 3)
    records = _records(at)
    assert len(records) == 2  # one restart, then held: not restarted until the chain limit
    held = records[-1]["status"]
    assert (held["state"], held["failedStage"], held["exitCode"]) == ("failed", "launch_command", code)
    # tmux before 3.7 may drop the last bytes of a process that exits at once, so one of
    # the two screens may be blank (reconcile/restarts.py): the hold names what was printed
    outputs = [r["status"]["lastOutput"] or "" for r in records]
    assert any(line in text for text in outputs)
    assert not any("Pane is dead" in text for text in outputs)  # tmux's line, not the agent's
    assert line in held["crashLoop"] and held["reason"] == held["crashLoop"]
    if code == 127:  # env names the program it did not find
        assert "claude-not-installed" in held["crashLoop"]
    (event,) = _events(env, "managed_pane_crash_loop_held")
    assert event["pane_id"] == held["id"] and event["payload"]["exit_code"] == code
    described = at.run("describe", "pane", "solo/m1")
    assert described.exit_code == 0
    text = described.stdout
    # this run's lines only (respawned in place); tmux may drop the last bytes of a process
    # that exits at once, and a blank screen shows no section (reconcile/restarts.py)
    printed = line in (held["lastOutput"] or "")
    assert ("Last output:\n" in text) == printed
    section = text.split("Last output:\n", 1)[1] if printed else ""
    shown = section.split("\nPredecessors:", 1)[0].splitlines()
    assert sum(line in row for row in shown) == int(printed)
    assert all(row.startswith("  ") for row in shown)
    assert "crashLoop:" in text
    stalled = next(
        c
        for c in at.json("get", "layouts", "solo")["status"]["conditions"]
        if c["type"] == "Stalled"  # type: ignore[index]
    )
    assert stalled["reason"] == "CrashLoop"


def test_recreate_after_a_held_crash_loop_tries_once_more(env: Env, at: type[AtCli]) -> None:
    """The operator acts: one more start; failing the same way again holds it at once."""
    path = _manifest(env, ["env", "claude-not-installed"])
    _passes(at, path, 3)
    assert len(_records(at)) == 2
    result = at.run("recreate", "pane", "solo/m1")
    assert result.exit_code == 0, result.output + result.stderr
    _passes(at, path, 2)
    records = _records(at)
    assert len(records) == 3 and records[-1]["status"]["state"] == "failed"
    assert len(_events(env, "managed_pane_crash_loop_held")) == 2
