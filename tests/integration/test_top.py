"""`top` in a real tmux pane, read with capture-pane: every pane of a layout with its state
and activity, a state change the controller makes followed on screen, filter, Enter
attaching a tmux client on the selected pane, and not one tmux call of its own until
then (its tmux is a counting shim of its own)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_TMUX, REPO, AtCli, Env, eventually
from tests.integration.test_attach import AGENTTOWER, Servers, clients, servers
from tests.integration.test_controller import Controller, controller, events_of
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["controller", "servers"]  # the fixtures, used by name

STANDIN = ["python3", str(REPO / "tests" / "agents" / "standin.py")]
PANES = [
    {"role": "master", "capability": "agent", "labelPattern": "m1", "launch": "standin"},
    {"role": "slave", "capability": "worker", "labelPattern": "s1", "launch": "sleepy"},
    {"role": "slave", "capability": "worker", "labelPattern": "s2", "launch": "sleepy"},
]


def team(env: Env, at: type[AtCli]) -> dict[str, dict[str, Any]]:
    """The layout, converged by the controller: m1 a hooked agent (idle), s1 and s2 sleep."""
    docs = [
        layout("team", None, panes=PANES),
        profile("standin", STANDIN, agent="claude"),
        profile("sleepy", SLEEP),
    ]
    write(env.desired_dir / "team.yaml", *docs)

    def converged() -> dict[str, dict[str, Any]] | None:
        items = at.json("get", "panes")["items"]  # type: ignore[index]
        status = {i["metadata"]["name"]: i["status"] for i in items}
        ready = len(status) == 3 and all(s["state"] == "ready" for s in status.values())
        return status if ready and status["team/m1"]["activity"] == "idle" else None

    return eventually(converged, what="team ready, m1 idle")  # type: ignore[no-any-return]


def counting_tmux(env: Env) -> tuple[Path, Path]:
    """A tmux for `top` alone that logs each call: (the shim, its log)."""
    log = env.root / "top-tmux.log"
    shim = env.root / "top-tmux"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{REAL_TMUX}" "$@"\n')
    shim.chmod(0o755)
    return shim, log


def rows(screen: str) -> dict[str, list[str]]:
    """NAME -> the other cells of its row, from top's screen."""
    found = {}
    for line in screen.splitlines():
        words = line.split()
        if words and re.fullmatch(r"team(/\w+)?", words[0]):
            found[words[0]] = words[1:]
    return found


def test_top_shows_every_pane_follows_a_state_change_and_attaches_on_enter(
    env: Env, at: type[AtCli], controller: Controller, servers: Servers
) -> None:
    controller.start()
    status = team(env, at)
    shim, log = counting_tmux(env)
    # top in an 80x24 pane of another tmux server (so Enter attaches a new client)
    servers(
        "outer",
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "80",
        "-y",
        "24",
        f"env AGENTTOWER_TMUX={shim} {AGENTTOWER} top",
    )
    assert (
        servers("outer", "display", "-p", "-t", "=top:", "#{pane_width}x#{pane_height}").stdout.strip()
        == "80x24"
    )

    def screen() -> str:
        return servers("outer", "capture-pane", "-p", "-t", "=top:").stdout

    def shows(check: Callable[[dict[str, list[str]]], bool]) -> Callable[[], dict[str, list[str]] | None]:
        return lambda: ((found := rows(screen())) and check(found) and found) or None

    first = eventually(shows(lambda r: len(r) == 4), what="the layout and its three panes on top's screen")
    assert first["team"][:2] == ["ready", "3/3"]
    assert first["team/m1"][:2] == ["ready", "idle"]  # state, activity (from the agent's hooks)
    assert first["team/s1"][:2] == ["ready", "unknown"] and first["team/s2"][:2] == ["ready", "unknown"]
    assert first["team/s1"][3] == "0"  # restarts
    eventually(lambda: "controller running" in screen(), what="the controller seen over its socket")

    env.tmux("kill-pane", "-t", status["team/s1"]["tmuxPaneId"])  # the controller marks it failed
    after = eventually(shows(lambda r: r["team/s1"][0] == "failed"), what="team/s1 failed on top's screen")
    assert after["team"][:2] == ["failed", "2/3"] and after["team/s2"][0] == "ready"
    assert after["team/s1"][5].startswith("layout_recovery_failed")  # its last event (after its time)
    assert not log.exists()  # everything so far came from the state store: no tmux call of top's

    servers("outer", "send-keys", "-t", "=top:", "/")
    eventually(lambda: "filter: words" in screen(), what="the filter box")
    servers("outer", "send-keys", "-t", "=top:", "s2", "Enter")  # filter, then back to the table
    eventually(shows(lambda r: set(r) == {"team", "team/s2"}), what="the filtered rows")
    servers("outer", "send-keys", "-t", "=top:", "Down")
    eventually(lambda: "[team/s2]" in screen(), what="team/s2 selected")
    servers("outer", "send-keys", "-t", "=top:", "Enter")
    s2 = status["team/s2"]["tmuxPaneId"]
    eventually(lambda: clients(env.tmux) == [f"team {s2}"], what="a client attached on team/s2")
    assert [line.split()[:2] for line in log.read_text().splitlines()] == [
        ["-u", "list-panes"],
        ["-u", "attach-session"],
    ]
    env.tmux("detach-client", "-s", "=team")  # top comes back
    eventually(lambda: "back from team/s2" in screen(), what="top again after the client detached")


def test_top_restarts_sends_and_switches_its_own_client_on_the_same_server(
    env: Env, at: type[AtCli], controller: Controller, servers: Servers
) -> None:
    controller.start()
    status = team(env, at)
    shim, log = counting_tmux(env)
    # top in a session of the agents' own server, looked at by a client (from another server's pane)
    env.tmux(
        "new-session",
        "-d",
        "-s",
        "viewer",
        "-x",
        "80",
        "-y",
        "24",
        f"env AGENTTOWER_TMUX={shim} {AGENTTOWER} top",
    )
    servers("outer", "new-session", "-d", "-x", "80", "-y", "25", "env -u TMUX tmux attach -t =viewer")
    eventually(lambda: [c.split()[0] for c in clients(env.tmux)] == ["viewer"], what="the viewer's client")

    def screen() -> str:
        return env.tmux("capture-pane", "-p", "-t", "=viewer:").stdout

    def key(*keys: str) -> None:
        env.tmux("send-keys", "-t", "=viewer:", *keys)

    eventually(lambda: len(rows(screen())) == 4, what="the rows")
    key("Down", "Down", "Down")
    eventually(lambda: "[team/s2]" in screen(), what="team/s2 selected")
    key("r")
    eventually(lambda: "restart team/s2? (y to confirm" in screen(), what="the restart question")
    key("y", "Enter")

    def restarted_row() -> bool:
        cells = rows(screen()).get("team/s2", [])
        return cells[:2] == ["ready", "unknown"] and cells[3:4] == ["1"]

    eventually(restarted_row, what="team/s2 restarted (its chain one longer)")
    restarted = at.json("get", "panes", "team/s2")["status"]  # type: ignore[index]
    assert restarted["chainDepth"] == 1 and restarted["id"] != status["team/s2"]["id"]

    key("Up", "Up")
    eventually(lambda: "[team/m1]" in screen(), what="team/m1 selected")
    key("s")
    eventually(lambda: "send to team/m1 (Enter sends" in screen(), what="the send prompt")
    key("hello from top", "Enter")
    eventually(lambda: "sent to team/m1: delivered" in screen(), what="the text delivered")
    sent = [e for e in events_of(env, "managed_pane_input_sent") if e["pane_id"] == status["team/m1"]["id"]]
    assert len(sent) == 1 and sent[0]["payload"]["length"] == len("hello from top")
    assert not log.exists()  # restart and send went to the controller over its socket

    key("Enter")  # this client switches to team/m1; top keeps running in `viewer`
    m1 = status["team/m1"]["tmuxPaneId"]
    eventually(lambda: clients(env.tmux) == [f"team {m1}"], what="the client switched to team/m1")
    assert [line.split()[:2] for line in log.read_text().splitlines()] == [
        ["-u", "list-panes"],
        ["-u", "switch-client"],
    ]
    eventually(lambda: "switched to team/m1" in screen(), what="top still running")
