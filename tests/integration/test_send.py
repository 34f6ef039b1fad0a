"""`agenttower send`: text pasted into a managed agent arrives whole, once, and is confirmed.

The agent is tests/agents/standin.py (a stand-in for a logged-in Claude Code: bracketed
paste on, every message received written to $STANDIN_INBOX as one JSON line), so what
arrived is compared byte for byte with what was sent.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, AtCli, Env, eventually
from tests.manifests import layout, pane, profile, template, write

pytestmark = pytest.mark.tmux

STANDIN = str(REPO / "tests" / "agents" / "standin.py")
TRICKY = "say \"hi\" and 'bye'; $(touch /tmp/pwned) `id` \\ %s\n\tsecond line\nthird ✓"


def _inbox(env: Env) -> list[str]:
    path = env.root / "inbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def _apply_standins(env: Env, at: type[AtCli], count: int = 1) -> Path:
    docs = [
        template("agents", [pane("worker", "w{ordinal}", launch="standin")] * count),
        profile(
            "standin",
            [sys.executable, STANDIN],
            env={"STANDIN_INBOX": str(env.root / "inbox.jsonl"), "STANDIN_WORK_S": "0"},
        ),
        layout("team", template="agents"),
    ]
    path = write(env.root / "team.yaml", *docs)
    result = at.run("apply", "-f", str(path), "--wait", "--timeout", "30s")
    assert result.exit_code == 0, result.output + result.stderr

    def prompt() -> bool:
        screen = env.tmux("capture-pane", "-p", "-t", "=team:").stdout
        return any(line.startswith(">") for line in screen.splitlines())

    eventually(prompt, what="the stand-in's prompt")
    return path


def _events(env: Env, kind: str) -> list[dict[str, object]]:
    audit = env.state_dir / "events.jsonl"
    lines = audit.read_text().splitlines() if audit.exists() else []
    return [e for e in map(json.loads, lines) if e["event_type"] == kind]


def test_send_text_arrives_intact_and_is_confirmed(env: Env, at: type[AtCli]) -> None:
    _apply_standins(env, at)
    big = "".join(f"line {i:05d} {'x' * 90}\n" for i in range(100)).rstrip("\n")  # ~10 KB
    assert len(big) > 10_000
    env.reset_calls()
    sent = at.json("send", "team/w1", TRICKY)
    assert sent["delivered"] is True, sent  # type: ignore[index]
    assert at.run("send", "team/w1", big).exit_code == 0
    eventually(lambda: len(_inbox(env)) == 2, what="both messages in the inbox")
    assert _inbox(env) == [TRICKY, big]
    assert not Path("/tmp/pwned").exists()
    # neither text in any tmux argv: both travelled on stdin
    calls = env.tmux_calls()
    assert not any("pwned" in c or "line 00001" in c for c in calls)
    assert sum("paste-buffer -p -d" in c for c in calls) == 2
    assert sum(c.endswith("Enter") for c in calls) == 2
    assert "agenttower-send" not in env.tmux("list-buffers", check=False).stdout
    events = _events(env, "managed_pane_input_sent")
    assert [(e["payload"]["length"], e["payload"]["outcome"]) for e in events] == [  # type: ignore[index]
        (len(TRICKY), "confirmed"),
        (len(big), "confirmed"),
    ]
    assert events[0]["payload"]["sha256"] == hashlib.sha256(TRICKY.encode()).hexdigest()  # type: ignore[index]
    audit = (env.state_dir / "events.jsonl").read_text()
    assert "pwned" not in audit and "line 00001" not in audit


def test_send_no_enter_pastes_without_submitting(env: Env, at: type[AtCli]) -> None:
    _apply_standins(env, at)
    env.reset_calls()
    result = at.json("send", "team/w1", "draft only", "--no-enter")
    assert result["results"][0]["outcome"] == "confirmed"  # type: ignore[index]  # the paste was drawn
    assert not any(c.endswith("Enter") for c in env.tmux_calls())
    assert at.run("send", "team/w1", " and more").exit_code == 0
    eventually(lambda: _inbox(env), what="the submitted message")
    assert _inbox(env) == ["draft only and more"]  # one message: the first was never submitted


def test_send_file_and_a_whole_layout_by_role(env: Env, at: type[AtCli]) -> None:
    _apply_standins(env, at, count=2)
    task = env.root / "task.md"
    task.write_text("# Task\n\nfix the build\n")
    result = at.json("send", "layout", "team", "--role", "worker", "--file", str(task))
    assert [r["pane"] for r in result["results"]] == ["team/w1", "team/w2"]  # type: ignore[index]
    eventually(lambda: len(_inbox(env)) == 2, what="one message per pane")
    assert _inbox(env) == ["# Task\n\nfix the build\n"] * 2


def test_send_to_a_missing_or_dead_pane_is_an_error_and_touches_nothing(env: Env, at: type[AtCli]) -> None:
    _apply_standins(env, at)
    env.reset_calls()
    missing = at.run("send", "team/nope", "hello")
    assert missing.exit_code == 1
    assert "managed_pane_not_found" in missing.stderr
    no_layout = at.run("send", "layout", "ghost", "hello")
    assert "managed_layout_not_found" in no_layout.stderr
    assert not any("paste" in c or "load-buffer" in c for c in env.tmux_calls())
    at.run("remove", "pane", "team/w1")
    env.reset_calls()
    removed = at.run("send", "team/w1", "hello", "-o", "json")
    assert removed.exit_code == 1
    error = json.loads(removed.stdout)["error"]
    assert error["code"] == "managed_pane_illegal_transition"
    assert error["details"]["requested_action"] == "send"
    assert not any("paste" in c or "load-buffer" in c for c in env.tmux_calls())
    assert _inbox(env) == []
    assert _events(env, "managed_pane_input_sent") == []


def test_send_reports_an_unconfirmed_delivery(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent that draws nothing (here `cat > file` with echo off) leaves the screen as
    it was: the text is pasted, and `send` says it could not confirm it (exit 3)."""
    got = env.root / "got"
    docs = [
        template("quiet", [pane("worker", "w{ordinal}", launch="quiet")]),
        profile("quiet", ["sh", "-c", f"stty -echo; exec cat > {got}"]),
        layout("still", template="quiet"),
    ]
    result = at.run("apply", "-f", str(write(env.root / "q.yaml", *docs)), "--wait", "--timeout", "30s")
    assert result.exit_code == 0, result.output + result.stderr
    monkeypatch.setenv("AGENTTOWER_SEND_CONFIRM", "300ms")
    env.reset_calls()
    sent = at.run("send", "still/w1", "quiet words", "-o", "json")
    assert sent.exit_code == 3
    answer = json.loads(sent.stdout)
    assert answer["results"][0]["outcome"] == "unconfirmed"
    assert sum("capture-pane" in c for c in env.tmux_calls()) == 2 + 3  # before, before Enter, 3 looks
    eventually(lambda: got.exists() and "quiet words" in got.read_text(), what="the text in the file")
    # the table does not call typed text undelivered: a second send would type it twice
    table = at.run("send", "still/w1", "more")
    assert table.exit_code == 3
    assert table.stdout == (
        "pane/still/w1: 4 characters pasted, not confirmed (the screen did not change within 0.3s):"
        " look before sending again\n"
    )


def test_send_when_idle_waits_for_the_agent_s_own_idle_and_never_types_into_unknown(
    env: Env, at: type[AtCli]
) -> None:
    """The stand-in runs Claude Code's hooks as agenttower wires them (model/agents.py):
    SessionStart says idle, a submitted prompt says working, Stop says idle again."""
    from agenttower.model.agents import claude_settings

    hooked = [sys.executable, STANDIN, "--settings", claude_settings("agenttower-test")]
    inbox = {"STANDIN_INBOX": str(env.root / "inbox.jsonl")}
    docs = [
        template(
            "mixed", [pane("worker", "w{ordinal}", launch="hooked"), pane("plain", "p{ordinal}", "plain")]
        ),
        profile("hooked", hooked, env={**inbox, "STANDIN_WORK_S": "2"}),
        profile("plain", [sys.executable, STANDIN], env=inbox),
        layout("team", template="mixed"),
    ]
    result = at.run("apply", "-f", str(write(env.root / "t.yaml", *docs)), "--wait", "--timeout", "30s")
    assert result.exit_code == 0, result.output + result.stderr

    def activity(label: str) -> str:
        target = "=team:.0" if label == "w1" else "=team:.1"
        return env.tmux("display-message", "-p", "-t", target, "#{@agenttower_activity}").stdout.strip()

    eventually(lambda: activity("w1") == "idle", what="the SessionStart hook's idle")
    first = at.json("send", "team/w1", "one", "--when", "idle")
    assert first["delivered"] is True and first["asks"] == 1  # type: ignore[index]
    assert activity("w1") == "working"  # its UserPromptSubmit hook ran: 2 s of work follow
    second = at.json("send", "team/w1", "two", "--when", "idle", "--timeout", "30s")
    assert second["delivered"] is True and second["asks"] > 1  # type: ignore[index]  # it waited
    eventually(lambda: len(_inbox(env)) == 2, what="both messages")
    assert _inbox(env) == ["one", "two"]
    # no hooks: its activity is unknown, which is not idle; nothing is typed
    env.reset_calls()
    unknown = at.run("send", "team/p1", "three", "--when", "idle", "--timeout", "1s", "-o", "json")
    assert unknown.exit_code == 3, unknown.output + unknown.stderr
    answer = json.loads(unknown.stdout)
    assert answer["results"][0]["outcome"] == "not_idle"
    assert answer["results"][0]["reason"] == "activity unknown"
    table = at.run("send", "team/p1", "three", "--when", "idle", "--timeout", "1s")
    assert table.exit_code == 3
    assert table.stdout == "pane/team/p1: nothing typed, not idle (activity unknown)\n"
    assert not any("paste-buffer" in c for c in env.tmux_calls())
    assert _inbox(env) == ["one", "two"]


def test_send_is_handed_to_a_running_controller(env: Env, at: type[AtCli]) -> None:
    from tests.integration.test_controller import Controller

    _apply_standins(env, at)  # apply keeps the manifest in the desired dir: the controller has it
    ctl = Controller(env).start()
    try:
        sent = at.json("send", "team/w1", "through the socket")
        assert sent["delivered"] is True  # type: ignore[index]
        eventually(lambda: _inbox(env) == ["through the socket"], what="the message")
        (event,) = _events(env, "managed_pane_input_sent")
        assert event["actor"] == "operator"  # the controller did it, for the operator
        assert "op=send" in ctl.text()  # its log: the request came over the socket
    finally:
        ctl.stop()
