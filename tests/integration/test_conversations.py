"""Conversations across restarts, on a real tmux server, with the scripted stand-in agent
(tests/agents/standin.py: Claude Code's `--session-id` / `--resume` contract, its
conversations kept per working directory under $HOME/.standin).

A slot keeps its session id from record to record; a successor of a conversation that
ran runs the profile's `resume` with it, in the same directory; a resume that exits at
once (no such conversation) falls back to `command`, once, with an event; `restart
pane` brings an agent back in its conversation and `--fresh` starts a new one.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.integration.test_controller import Controller, controller, events_of
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux

__all__ = ["controller"]  # the fixture, used by name

STANDIN = str(Path(__file__).resolve().parents[1] / "agents" / "standin.py")
PROBE = "1s"  # the stand-in's "no such conversation" exit must be seen by the launch probe


def agent(env: Env, policy: str) -> list[dict[str, Any]]:
    work = env.root / "work"
    work.mkdir(exist_ok=True)
    solo = [{"role": "lead", "capability": "c", "labelPattern": "m1", "launch": "standin"}]
    standin = profile(
        "standin",
        [sys.executable, STANDIN, "--session-id", "{sessionId}"],
        resume=[sys.executable, STANDIN, "--resume", "{sessionId}"],
        workingDir=str(work),
        env={"HOME": str(env.home)},
    )
    return [layout("t", None, restartPolicy=policy, panes=solo), standin]


def record(at: type[AtCli]) -> dict[str, Any]:
    return at.json("get", "panes")["items"][0]  # type: ignore[index,no-any-return]


def first_record(at: type[AtCli]) -> dict[str, Any] | None:
    """The slot's record once a pass has created it (a controller's first pass may not
    have run yet when a test starts looking)."""
    items: list[dict[str, Any]] = at.json("get", "panes")["items"]  # type: ignore[index]
    return items[0] if items else None


def in_state(at: type[AtCli], state: str) -> dict[str, Any] | None:
    now = first_record(at)
    return now if now is not None and now["status"]["state"] == state else None


def every(at: type[AtCli]) -> list[dict[str, Any]]:
    return at.json("get", "panes", "--all")["items"]  # type: ignore[index,no-any-return]


def screen(env: Env, pane: dict[str, Any]) -> str:
    return env.tmux("capture-pane", "-p", "-t", pane["status"]["tmuxPaneId"]).stdout


def transcript(env: Env, session_id: str) -> Path:
    slug = str(env.root / "work").replace("/", "-")
    return env.home / ".standin" / slug / f"{session_id}.jsonl"


def pid_of(env: Env, pane: dict[str, Any]) -> int:
    out = env.tmux("display-message", "-p", "-t", pane["status"]["tmuxPaneId"], "#{pane_pid}").stdout
    return int(out.strip())


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def talk(env: Env, pane: dict[str, Any], session_id: str) -> None:
    """One message typed into the agent, answered (two lines in its conversation)."""
    env.tmux("send-keys", "-t", pane["status"]["tmuxPaneId"], "hello", "Enter")
    eventually(
        lambda: (
            transcript(env, session_id).exists()
            and len(transcript(env, session_id).read_text().splitlines()) == 2
        ),
        what="the message in the stand-in's conversation",
    )


def ready_successor(at: type[AtCli], of: str) -> dict[str, Any] | None:
    now = record(at)
    return now if now["status"]["id"] != of and now["status"]["state"] == "ready" else None


def test_fr013_killed_agent_comes_back_resuming_its_session_in_the_same_directory(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    write(env.desired_dir / "t.yaml", *agent(env, "Always"))
    controller.start(AGENTTOWER_PROBE_DELAY=PROBE)
    first = eventually(lambda: in_state(at, "ready"), what="agent ready")
    session = first["status"]["sessionId"]
    assert str(uuid.UUID(session)) == session and first["status"]["resumedFrom"] is None
    pid = pid_of(env, first)
    assert environ(pid)["AGENTTOWER_SESSION_ID"] == session
    eventually(lambda: f"standin {session} (new)" in screen(env, first), what="the new conversation")
    talk(env, first, session)

    os.kill(pid, signal.SIGKILL)
    new = eventually(lambda: ready_successor(at, first["status"]["id"]), what="the resumed successor")
    assert new["status"]["sessionId"] == session and new["status"]["resumedFrom"] == session
    assert new["status"]["predecessorId"] == first["status"]["id"]
    eventually(lambda: f"standin {session} (resumed, 2 messages)" in screen(env, new), what="resumed screen")
    again = pid_of(env, new)
    assert environ(again)["AGENTTOWER_SESSION_ID"] == session
    assert os.readlink(f"/proc/{again}/cwd") == str(env.root / "work")
    assert [p.name for p in transcript(env, session).parent.iterdir()] == [f"{session}.jsonl"]
    assert events_of(env, "managed_pane_resume_fell_back") == []


def test_fr013_resume_that_exits_at_once_falls_back_to_command_once_with_an_event(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """The conversation never got a message, so the stand-in has none to resume: `--resume`
    exits 1 at once, and the slot comes back with its command, at the resume's depth."""
    write(env.desired_dir / "t.yaml", *agent(env, "Always"))
    controller.start(AGENTTOWER_PROBE_DELAY=PROBE, AGENTTOWER_BACKOFF_BASE="30s")
    first = eventually(lambda: in_state(at, "ready"), what="agent ready")
    session = first["status"]["sessionId"]
    os.kill(pid_of(env, first), signal.SIGKILL)

    def fell_back() -> list[dict[str, Any]] | None:
        chain = every(at)
        return chain if len(chain) == 3 and chain[2]["status"]["state"] == "ready" else None

    chain = eventually(fell_back, what="the fallback to command")
    tried, back = chain[1]["status"], chain[2]["status"]
    assert tried["resumedFrom"] == session and tried["failedStage"] == "launch_command"
    assert tried["exitCode"] == 1
    assert back["resumedFrom"] is None and back["sessionId"] == session
    assert [p["status"]["chainDepth"] for p in chain] == [0, 1, 1]  # one restart, not two
    eventually(lambda: f"standin {session} (new)" in screen(env, chain[2]), what="the command's screen")
    # The audit file is written at the end of the pass that may also have seen the pane ready.
    (event,) = eventually(lambda: events_of(env, "managed_pane_resume_fell_back"), what="the event")
    assert event["pane_id"] == back["id"] and event["payload"]["predecessor_id"] == tried["id"]
    assert events_of(env, "managed_pane_restart_backoff") == []  # a 30 s back-off was never held


def test_fr013_restart_pane_resumes_the_conversation_and_fresh_starts_a_new_one(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(env.root / "t.yaml", *agent(env, "Never"))
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", PROBE)
    applied = at.run("apply", "-f", str(env.root / "t.yaml"))
    assert applied.exit_code == 0, applied.output + applied.stderr
    first = record(at)
    session = first["status"]["sessionId"]
    eventually(lambda: f"standin {session} (new)" in screen(env, first), what="the new conversation")
    talk(env, first, session)
    old_pid = pid_of(env, first)

    done = at.run("restart", "pane", "t/m1", "-o", "json")
    assert done.exit_code == 0, done.output + done.stderr
    answer = json.loads(done.stdout)
    assert (answer["sessionId"], answer["resumedFrom"], answer["state"]) == (session, session, "ready")
    assert answer["predecessorId"] == first["status"]["id"]
    resumed = record(at)
    assert resumed["status"]["id"] == answer["id"]
    assert resumed["status"]["tmuxPaneId"] == first["status"]["tmuxPaneId"]  # in place
    assert not Path(f"/proc/{old_pid}").exists()  # the stuck agent was stopped
    eventually(lambda: f"standin {session} (resumed, 2 messages)" in screen(env, resumed), what="resumed")
    old = next(p for p in every(at) if p["status"]["id"] == first["status"]["id"])
    assert old["status"]["state"] == "removed"

    done = at.run("restart", "pane", "t/m1", "--fresh", "-o", "json")
    assert done.exit_code == 0, done.output + done.stderr
    fresh = json.loads(done.stdout)
    assert fresh["sessionId"] != session and fresh["resumedFrom"] is None
    assert str(uuid.UUID(fresh["sessionId"])) == fresh["sessionId"]
    now = record(at)
    eventually(lambda: f"standin {fresh['sessionId']} (new)" in screen(env, now), what="fresh screen")
    assert environ(pid_of(env, now))["AGENTTOWER_SESSION_ID"] == fresh["sessionId"]
    described = at.run("describe", "pane", "t/m1")
    assert f"sessionId:    {fresh['sessionId']}" in described.stdout
    assert [p["status"]["chainDepth"] for p in every(at)] == [0, 1, 2]


def test_fr013_an_agent_that_chooses_its_own_id_is_resumed_by_the_id_it_reported(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """No `--session-id`: the stand-in picks its own id and reports it from its
    SessionStart hook (a pane option, model/agents.py); the restart resumes that id."""
    from agenttower.model.agents import claude_settings

    hooks = claude_settings("agenttower-test")
    docs = agent(env, "Always")
    docs[1]["spec"]["command"] = [sys.executable, STANDIN, "--settings", hooks]
    docs[1]["spec"]["resume"] = [sys.executable, STANDIN, "--resume", "{sessionId}", "--settings", hooks]
    write(env.desired_dir / "t.yaml", *docs)
    controller.start(AGENTTOWER_PROBE_DELAY=PROBE)

    def reported() -> dict[str, Any] | None:
        now = first_record(at)
        return now if now is not None and now["status"].get("agentSessionId") else None

    first = eventually(reported, what="the agent's own id recorded")
    own = first["status"]["agentSessionId"]
    assert own != first["status"]["sessionId"]
    assert f"standin {own} (new)" in screen(env, first)
    (event,) = eventually(lambda: events_of(env, "managed_pane_agent_session_reported"), what="the event")
    assert event["payload"]["agent_session_id"] == own
    talk(env, first, own)

    os.kill(pid_of(env, first), signal.SIGKILL)
    new = eventually(lambda: ready_successor(at, first["status"]["id"]), what="the resumed successor")
    assert new["status"]["resumedFrom"] == own and new["status"]["sessionId"] == first["status"]["sessionId"]
    assert new["status"]["agentSessionId"] == own
    eventually(lambda: f"standin {own} (resumed, 2 messages)" in screen(env, new), what="resumed screen")
    described = at.run("describe", "pane", "t/m1")
    assert f"agentSessionId: {own}" in described.stdout


def test_fr013_after_tmux_kill_server_the_agent_comes_back_in_its_conversation(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    write(env.desired_dir / "t.yaml", *agent(env, "Always"))
    controller.start(AGENTTOWER_PROBE_DELAY=PROBE)
    first = eventually(lambda: in_state(at, "ready"), what="agent ready")
    session = first["status"]["sessionId"]
    talk(env, first, session)

    env.tmux("kill-server")
    new = eventually(lambda: ready_successor(at, first["status"]["id"]), what="the recovered successor")
    assert (new["status"]["sessionId"], new["status"]["resumedFrom"]) == (session, session)
    old = next(p for p in every(at) if p["status"]["id"] == first["status"]["id"])
    assert old["status"]["failedStage"] == "recovery_reattach"
    eventually(lambda: f"standin {session} (resumed, 2 messages)" in screen(env, new), what="resumed screen")


def test_fr013_restart_fresh_through_the_controller_forgets_the_agents_old_id(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """Handed to the running controller over its socket. The tmux pane is reused in place,
    and what the last agent reported of itself (a pane option, which outlives the
    process) is dropped: the fresh agent (now started without hooks) reports nothing,
    so nothing is left there for a pass to record on the fresh record."""
    from agenttower.model.agents import AGENT_SESSION_OPTION, claude_settings

    docs = agent(env, "Always")
    docs[1]["spec"]["command"] = [sys.executable, STANDIN, "--settings", claude_settings("agenttower-test")]
    write(env.desired_dir / "t.yaml", *docs)
    controller.start(AGENTTOWER_PROBE_DELAY=PROBE)
    first = eventually(
        lambda: (p := first_record(at)) is not None and p["status"].get("agentSessionId") and p,
        what="own id",
    )
    tmux_id = first["status"]["tmuxPaneId"]
    assert env.tmux("show-options", "-p", "-v", "-t", tmux_id, AGENT_SESSION_OPTION).stdout.strip()

    write(env.desired_dir / "t.yaml", *agent(env, "Always"))  # no hooks: the next agent reports nothing
    eventually(lambda: record(at)["status"]["outdated"], what="the new spec seen")
    done = at.run("restart", "pane", "t/m1", "--fresh", "-o", "json")
    assert done.exit_code == 0, done.output + done.stderr
    fresh = json.loads(done.stdout)
    assert fresh["sessionId"] != first["status"]["sessionId"] and fresh["resumedFrom"] is None
    now = record(at)
    assert now["status"]["id"] == fresh["id"] and now["status"]["tmuxPaneId"] == tmux_id  # in place
    eventually(lambda: f"standin {fresh['sessionId']} (new)" in screen(env, now), what="the fresh agent")
    shown = env.tmux("show-options", "-p", "-v", "-t", tmux_id, AGENT_SESSION_OPTION, check=False)
    assert shown.stdout.strip() == ""
    assert "agentSessionId" not in now["status"]


def test_fr013_restart_pane_with_no_conversation_to_resume_comes_back_with_its_command(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No message was ever sent, so the stand-in has nothing to resume: the verb's resume
    exits at once and the same request brings the slot back with `command`, once."""
    write(env.root / "t.yaml", *agent(env, "Never"))
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", PROBE)
    applied = at.run("apply", "-f", str(env.root / "t.yaml"))
    assert applied.exit_code == 0, applied.output + applied.stderr
    first = record(at)
    session = first["status"]["sessionId"]

    done = at.run("restart", "pane", "t/m1", "-o", "json")
    assert done.exit_code == 0, done.output + done.stderr
    answer = json.loads(done.stdout)
    assert (answer["sessionId"], answer["resumedFrom"], answer["state"]) == (session, None, "ready")
    chain = every(at)
    assert [p["status"]["resumedFrom"] for p in chain] == [None, session, None]
    assert [p["status"]["chainDepth"] for p in chain] == [0, 1, 1]
    assert answer["predecessorId"] == chain[1]["status"]["id"]
    (event,) = events_of(env, "managed_pane_resume_fell_back")
    assert event["pane_id"] == answer["id"]
    eventually(lambda: f"standin {session} (new)" in screen(env, record(at)), what="the command's screen")
