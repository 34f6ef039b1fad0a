"""Activity and readiness on a real tmux server, with the stand-in agent
(tests/agents/standin.py: Claude Code's --settings hooks, a sign-in screen on
STANDIN_LOGIN=1): the hooks agenttower wires at launch drive `status.activity`
(working -> waiting -> idle), a screen rule marks a pane `waiting` where no hook runs,
and the readiness probe decides `ready` or `degraded` / `readiness`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from agenttower.reconcile.engine import PassResult, Session
from agenttower.settings import AgentSettings, Settings
from tests.conftest import REPO, AtCli, Env, eventually
from tests.integration.test_controller import Controller, controller, events_of
from tests.manifests import layout, profile, write
from tests.passes import Run, clocked_passes

pytestmark = pytest.mark.tmux
__all__ = ["controller"]  # the fixture, used by name

STANDIN = ["python3", str(REPO / "tests" / "agents" / "standin.py")]
SOLO = [{"role": "master", "capability": "agent", "labelPattern": "m1", "launch": "standin"}]


def standin(**spec: Any) -> list[dict[str, Any]]:
    return [layout("solo", None, panes=SOLO), profile("standin", STANDIN, **spec)]


def pane_status(at: type[AtCli]) -> dict[str, Any]:
    items = at.json("get", "panes")["items"]  # type: ignore[index]
    return items[0]["status"] if items else {}  # type: ignore[no-any-return]


def activity_changes(env: Env) -> list[str]:
    """The activities the pane went through. A change of source alone (the screen said idle
    at the prompt, then the SessionStart hook said idle too, when the hook was slower) is an
    event of its own but no transition: consecutive equal activities count once."""
    events = events_of(env, "managed_pane_activity_changed")
    seen = [(e["payload"]["to"], e["payload"]["reason"]) for e in events]
    assert all(a != b for a, b in itertools.pairwise(seen)), f"an event that changed nothing: {seen}"
    return [to for to, _ in itertools.groupby(to for to, _ in seen)]


def test_activity_follows_the_hooks_working_waiting_idle(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    controller.start(AGENTTOWER_SCREEN_PERIOD="500ms")
    docs = standin(agent="claude", readiness={"pattern": "^>", "timeout": "30s"}, env={"STANDIN_WORK_S": "2"})
    write(env.desired_dir / "solo.yaml", *docs)
    status = eventually(
        lambda: (s := pane_status(at)).get("state") == "ready" and s["activity"] == "idle" and s,
        what="ready and idle (SessionStart hook)",
    )
    assert status["activitySource"] == "hook" and status["failedStage"] is None
    pane = status["tmuxPaneId"]

    def activity_is(value: str) -> Callable[[], bool]:
        return lambda: pane_status(at).get("activity") == value

    env.tmux("send-keys", "-t", pane, "hello", "Enter")
    eventually(activity_is("working"), what="working (UserPromptSubmit hook)")
    eventually(activity_is("idle"), what="idle (Stop hook)")
    env.tmux("send-keys", "-t", pane, "/ask", "Enter")
    eventually(activity_is("waiting"), what="waiting (Notification permission_prompt hook)")
    assert pane_status(at)["activityReason"] == "needs the user: a permission prompt (hook)"
    env.tmux("send-keys", "-t", pane, "y", "Enter")
    eventually(activity_is("idle"), what="idle again (Stop hook)")

    changes = activity_changes(env)
    # `/ask` runs UserPromptSubmit then Notification at once: a pass may see only the second
    assert changes[:3] == ["idle", "working", "idle"] and changes[-2:] == ["waiting", "idle"]
    assert changes[3:-2] in ([], ["working"])
    table = at.run("get", "panes")
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()[:2]
    assert "ACTIVITY" in header.split() and "idle" in row.split()
    described = at.run("describe", "pane", "solo/m1")
    assert "activity:     idle" in described.stdout and "idle at its prompt (hook)" in described.stdout
    assert controller.stop() == 0


@pytest.fixture
def passes(env: Env) -> Iterator[tuple[Session, Run]]:
    settings = replace(Settings.from_env(), agents=AgentSettings(screen_period=5.0))
    with clocked_passes(settings) as passes:
        yield passes


def screen_of(env: Env, pane: str) -> str:
    return env.tmux("capture-pane", "-p", "-t", pane).stdout


def only_pane(session: Session) -> Any:
    (pane,) = [p for p in session.store.panes() if p.live]
    return pane


def test_screen_fallback_marks_a_login_waiting_and_readiness_fails_as_degraded(
    env: Env, passes: tuple[Session, Callable[[float], PassResult]]
) -> None:
    session, run = passes
    rule = {"pattern": "Sign in to continue", "activity": "waiting", "reason": "login screen: sign in"}
    docs = standin(screen=[rule], readiness={"pattern": "^>", "timeout": "8s"}, env={"STANDIN_LOGIN": "1"})
    write(env.desired_dir / "solo.yaml", *docs)
    run(0)
    pane = only_pane(session)
    assert pane.state == "creating" and pane.ready_by is not None  # spawned, not ready yet
    eventually(lambda: "Sign in to continue" in screen_of(env, pane.tmux_pane_id), what="sign-in screen")

    first = run(1)  # the first read of the screen: a listing and one capture batch
    assert first.invocations == 2
    pane = only_pane(session)
    assert (pane.state, pane.activity, pane.activity_source) == ("creating", "waiting", "screen")
    assert pane.activity_reason == "login screen: sign in"
    assert run(1).invocations == 1  # within the screen period: the listing only
    assert run(1).invocations == 1

    late = run(6)  # past the readiness deadline and a period on: read again, still no prompt
    assert late.invocations == 2
    pane = only_pane(session)
    assert (pane.state, pane.failed_stage) == ("degraded", "readiness")
    assert "no '^>' on screen within 8s" in pane.reason and "login screen: sign in" in pane.reason
    assert pane.activity == "waiting"
    assert run(5).invocations == 2  # a degraded agent is still watched: its screen, once a period
    changes = [e for e in session.store.events() if e["event_type"] == "managed_pane_activity_changed"]
    assert [e["payload"]["to"] for e in changes] == ["waiting"]  # once, not once per pass
    states = [
        (e["payload"]["to"], e["payload"].get("failed_stage"))
        for e in session.store.events()
        if e["event_type"] == "managed_pane_state_changed"
    ]
    assert states == [("degraded", "readiness")]


def test_readiness_probe_that_matches_makes_the_pane_ready(
    env: Env, passes: tuple[Session, Callable[[float], PassResult]]
) -> None:
    session, run = passes
    write(env.desired_dir / "solo.yaml", *standin(readiness={"pattern": "^>", "timeout": "8s"}))
    run(0)
    pane = only_pane(session)
    assert pane.state == "creating"
    eventually(lambda: "\n>" in screen_of(env, pane.tmux_pane_id), what="the stand-in's prompt")
    run(1)
    assert only_pane(session).state == "creating"  # one read of the prompt is not enough
    run(5)
    pane = only_pane(session)
    assert pane.state == "ready" and pane.failed_stage is None and pane.reason is None
    assert pane.activity == "idle" and pane.activity_source == "screen"  # no hooks: the prompt shows


def test_a_profile_without_screen_rules_or_probe_is_never_captured(
    env: Env, passes: tuple[Session, Callable[[float], PassResult]]
) -> None:
    session, run = passes
    write(env.desired_dir / "solo.yaml", *standin())
    run(0)
    assert only_pane(session).state == "ready"
    assert [run(6).invocations for _ in range(3)] == [1, 1, 1]
