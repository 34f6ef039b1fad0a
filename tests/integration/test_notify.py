"""`notify`: the operator's program runs once per episode with the event's JSON on stdin,
and a program that hangs never delays the controller's passes.

The episode here is a real crash loop (a missing binary, held after its second start)
seen by a real controller; so is one waiting episode (the stand-in agent's permission
prompt, reported by its hook). The grace and busy-pane rules are checked by feeding the
notifier activity events directly, as the controller feeds it what each pass wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agenttower.daemon.notify import Notifier
from agenttower.settings import NotifySettings
from tests.conftest import AtCli, Env, eventually
from tests.integration.test_controller import Controller, controller, ready, sleepy
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["controller"]  # a fixture, used by name


def _appender(path: Path) -> list[str]:
    return ["sh", "-c", f"cat >> {path}; echo >> {path}"]


def _looping(env: Env, notify: list[str]) -> None:
    solo = [{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "missing"}]
    write(
        env.desired_dir / "loop.yaml",
        layout("loop", None, restartPolicy="Always", panes=solo, notify=notify),
        profile("missing", ["env", "claude-not-installed"]),
    )


def _notified(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def test_notify_runs_once_for_a_held_crash_loop_with_the_event_on_stdin(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    got = env.root / "notified.jsonl"
    _looping(env, _appender(got))
    controller.start()
    (event,) = eventually(lambda: _notified(got), what="the notify program's input")
    assert event["event_type"] == "managed_pane_crash_loop_held"
    assert event["pane"] == "loop/m1" and event["payload"]["exit_code"] == 127
    controller.await_passes()  # the resync
    assert len(_notified(got)) == 1  # one episode, one call, however many passes see it


def test_a_hanging_notify_program_does_not_delay_the_next_pass(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    hang = f"1000.{os.getpid()}{len(str(env.root))}"  # a sleep of this test's own, to find it
    _looping(env, ["sh", "-c", f"exec sleep {hang}"])
    controller.start(AGENTTOWER_NOTIFY_TIMEOUT="1h")
    audit = env.state_dir / "events.jsonl"
    eventually(
        lambda: audit.exists() and "managed_pane_crash_loop_held" in audit.read_text(), what="the crash loop"
    )
    write(env.desired_dir / "team.yaml", *sleepy("team"))  # work for the next pass
    eventually(ready(at, "team"), what="a new layout converged while notify hangs")
    assert _hanging(hang), "the notify program was not running while the pass converged"
    assert controller.stop() == 0
    assert not _hanging(hang)  # a stopping controller kills what notify left running


def _hanging(seconds: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == f"sleep\x00{seconds}\x00".encode():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_waiting_episode_notifies_once_after_the_grace_and_not_if_it_ended(env: Env) -> None:
    got = env.root / "waiting.jsonl"
    notifier = Notifier(NotifySettings(waiting_grace=0.2, timeout=10), lambda _e: tuple(_appender(got)))

    def activity(pane: str, to: str) -> dict[str, Any]:
        return {"event_type": "managed_pane_activity_changed", "pane_id": pane, "payload": {"to": to}}

    notifier.feed([activity("p1", "working"), activity("p1", "waiting"), activity("p2", "waiting")])
    notifier.feed([activity("p2", "idle")])  # p2's episode ended within the grace: disarmed
    assert set(notifier._armed) == {"p1"}
    (event,) = eventually(lambda: _notified(got), what="p1's waiting notification")
    assert event["pane_id"] == "p1" and event["payload"]["to"] == "waiting"
    eventually(lambda: notifier.runs == 1 and not notifier._armed and not notifier._busy, what="done")
    notifier.feed([activity("p1", "waiting")])  # still waiting, reported again: a new timer
    notifier.feed([activity("p1", "idle"), activity("p1", "waiting"), activity("p1", "working")])
    assert notifier._armed == {} and notifier.runs == 1
    notifier.stop()


def test_recovery_failures_notify_at_once_and_a_busy_pane_is_not_notified_twice(env: Env) -> None:
    got = env.root / "recovery.jsonl"
    hang = f"1000.{os.getpid()}9"
    argv = {"lay": tuple(_appender(got)), "hang": ("sh", "-c", f"exec sleep {hang}")}
    notifier = Notifier(NotifySettings(timeout=3600), lambda e: argv[str(e["layout_id"])])
    failed = {"event_type": "managed_layout_recovery_failed", "layout_id": "lay", "pane_id": "p1"}
    notifier.feed([failed])
    (event,) = eventually(lambda: _notified(got), what="the recovery failure's notification")
    assert event == failed
    held = {"event_type": "managed_pane_crash_loop_held", "layout_id": "hang", "pane_id": "p2"}
    notifier.feed([held])
    eventually(lambda: _hanging(hang), what="the hanging notify program")
    notifier.feed([held, held])  # p2's call still runs: skipped, not queued behind it
    assert notifier.runs == 2
    notifier.stop()
    assert not _hanging(hang)


def test_a_real_waiting_episode_from_the_agents_hook_notifies_once(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """End to end: the stand-in's permission prompt (`/ask`, its Notification hook) makes
    the pane `waiting`; the controller runs the layout's notify program once, with that
    activity event on stdin; answering the prompt ends the episode without a second call."""
    from tests.integration.test_activity import SOLO, STANDIN, pane_status

    got = env.root / "notified.jsonl"
    write(
        env.desired_dir / "solo.yaml",
        layout("solo", None, panes=SOLO, notify=_appender(got)),
        profile("standin", STANDIN, agent="claude", env={"STANDIN_WORK_S": "0.1"}),
    )
    controller.start(AGENTTOWER_NOTIFY_WAITING_GRACE="0s")
    status = eventually(
        lambda: (s := pane_status(at)).get("state") == "ready" and s.get("activity") == "idle" and s,
        what="ready and idle",
    )
    env.tmux("send-keys", "-t", status["tmuxPaneId"], "/ask", "Enter")
    (event,) = eventually(lambda: _notified(got), what="the waiting episode notified")
    assert event["event_type"] == "managed_pane_activity_changed" and event["payload"]["to"] == "waiting"
    env.tmux("send-keys", "-t", status["tmuxPaneId"], "y", "Enter")
    eventually(lambda: pane_status(at).get("activity") == "idle", what="the prompt answered")
    controller.await_passes()
    assert len(_notified(got)) == 1
