"""`initialInput`: a pane slot's first task is typed once, when it is first ready, and
never again: not on a controller restart (re-attach), not when the agent is restarted
(its successor resumes the slot). The agent is tests/agents/standin.py, which writes
every message it receives to $STANDIN_INBOX."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO, AtCli, Env, eventually
from tests.integration.test_controller import Controller, controller, events_of, panes
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["controller"]  # a fixture, used by name

TASK = 'Fix the build:\n  run "make test" and $(look) at the failures'


def _inbox(env: Env) -> list[str]:
    path = env.root / "inbox.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()] if path.exists() else []


def test_initial_input_is_delivered_once_across_a_controller_restart_and_an_agent_restart(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    solo = [{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "standin", "initialInput": TASK}]
    write(
        env.desired_dir / "solo.yaml",
        layout("solo", None, restartPolicy="Always", panes=solo),
        profile(
            "standin",
            [sys.executable, str(REPO / "tests" / "agents" / "standin.py")],
            env={"STANDIN_INBOX": str(env.root / "inbox.jsonl"), "STANDIN_WORK_S": "0"},
        ),
    )
    knobs = {"AGENTTOWER_INITIAL_INPUT_DELAY": "300ms"}
    controller.start(**knobs)
    eventually(lambda: _inbox(env) == [TASK], what="the first task in the agent's inbox")
    # the agent may read its task before the pass that typed it has appended the audit file
    events = eventually(lambda: events_of(env, "managed_pane_input_sent"), what="the input's event")
    assert [(e["payload"]["length"], e["payload"]["initial"]) for e in events] == [(len(TASK), True)]
    assert "make test" not in (env.state_dir / "events.jsonl").read_text()

    assert controller.stop() == 0  # re-attach: the same pane, found again by a new controller
    controller.start(**knobs)
    controller.await_passes()  # two passes of the new controller
    assert _inbox(env) == [TASK]

    first = panes(at)[0]["status"]
    env.tmux("respawn-pane", "-k", "-t", first["tmuxPaneId"], "exit 3")  # the agent dies
    eventually(
        lambda: any(
            p["status"]["predecessorId"] == first["id"] and p["status"]["state"] == "ready"
            for p in panes(at, "--all")
        ),
        what="its successor ready",
    )
    controller.await_passes()
    assert _inbox(env) == [TASK]  # the successor resumes the slot: no second first task
