"""`attach` and `screen` on real tmux servers: a client of another server (or none)
attaches a new client on the pane's server with the pane selected, a client of the
same server switches, socket targets are reached with their `-L`; `screen` prints what
the pane shows in two tmux calls; unknown and gone panes are refused with their codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REAL_TMUX, AtCli, Env, eventually
from tests.integration.test_containers import Bench, benches, docker_engine
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["benches", "docker_engine"]  # the fixtures, used by name

PRINTER = ["sh", "-c", "printf 'screen-test-line\\n'; exec sleep 600"]
AGENTTOWER = f"{sys.executable} -m agenttower"

Servers = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def servers(env: Env) -> Iterator[Servers]:
    """tmux on another socket of this test's TMUX_TMPDIR (`servers("outer", "list-clients")`),
    every one killed at teardown."""
    used: set[str] = set()

    def run(socket: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        used.add(socket)
        return subprocess.run(
            [REAL_TMUX or "tmux", "-u", "-L", socket, *args], capture_output=True, text=True, check=check
        )

    try:
        yield run
    finally:
        for socket in used:
            run(socket, "kill-server", check=False)


def applied(env: Env, at: type[AtCli], name: str = "team", **spec: object) -> dict[str, str]:
    """Apply a 3-pane layout whose panes print a line; LAYOUT/LABEL -> tmux pane id."""
    launch = {k: "printer" for k in ("master:m1", "slave:s1", "slave:s2")}
    write(env.desired_dir / f"{name}.yaml", layout(name, launch=launch, **spec), profile("printer", PRINTER))
    result = at.run("apply", "-f", str(env.desired_dir), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    items = at.json("get", "panes")["items"]  # type: ignore[index]
    return {i["metadata"]["name"]: i["status"]["tmuxPaneId"] for i in items}


def clients(tmux: Callable[..., subprocess.CompletedProcess[str]]) -> list[str]:
    out = tmux("list-clients", "-F", "#{client_session} #{pane_id}", check=False)
    return out.stdout.split("\n")[:-1] if out.returncode == 0 else []


def completions(*words: str) -> list[str]:
    """What click's bash completion offers after `agenttower WORDS...` (the last word is
    the one being completed)."""
    environ = {**os.environ, "_AGENTTOWER_COMPLETE": "bash_complete"}
    environ.update(COMP_WORDS=" ".join(["agenttower", *words]), COMP_CWORD=str(len(words)))
    out = subprocess.run([sys.executable, "-m", "agenttower"], env=environ, capture_output=True, text=True)
    return [line.split(",", 1)[1] for line in out.stdout.splitlines()]


def test_screen_prints_what_the_pane_shows_in_two_tmux_calls(env: Env, at: type[AtCli]) -> None:
    panes = applied(env, at)
    text = eventually(
        lambda: (r := at.run("screen", "team/s1")).exit_code == 0 and "screen-test-line" in r.stdout and r,
        what="the pane's line on its screen",
    )
    assert text.stdout.split("\n")[0] == "screen-test-line"
    env.reset_calls()
    data = at.json("screen", "team/s1")
    assert [call.split()[0] for call in env.tmux_calls()] == ["list-panes", "source-file"]
    assert data["kind"] == "Screen" and data["pane"] == "team/s1" and data["tmuxPaneId"] == panes["team/s1"]  # type: ignore[index]
    assert data["lines"] == ["screen-test-line"] and data["dead"] is False  # type: ignore[index]
    assert at.json("screen", "pane/team/s1") == data  # the name as `get -o name` prints it
    assert completions("screen", "team/s") == ["team/s1", "team/s2"]
    assert completions("attach", "") == ["layout", "team/m1", "team/s1", "team/s2"]
    assert completions("attach", "layout", "t") == ["team"]


def test_screen_and_attach_refuse_unknown_and_gone_panes(env: Env, at: type[AtCli]) -> None:
    panes = applied(env, at)
    for verb in ("screen", "attach"):
        unknown = at.run(verb, "team/nosuch")
        assert unknown.exit_code == 1
        assert "error: managed_pane_not_found: pane 'team/nosuch'" in unknown.stderr
    missing = at.run("attach", "layout", "nosuch")
    assert missing.exit_code == 1 and "managed_layout_not_found" in missing.stderr
    env.tmux("kill-pane", "-t", panes["team/s2"])
    for verb in ("screen", "attach"):
        gone = at.run(verb, "team/s2", "-o", "json") if verb == "screen" else at.run(verb, "team/s2")
        text = gone.stdout if verb == "screen" else gone.stderr
        assert gone.exit_code == 1 and "managed_pane_illegal_transition" in text, text
        assert "has no tmux pane on its target" in text
    detail = json.loads(at.run("screen", "team/s2", "-o", "json").stdout)["error"]["details"]
    assert detail["requested_action"] == "screen" and detail["current_state"] == "ready"
    no_tty = at.run("attach", "team/m1")  # the test runner's stdin is not a terminal
    assert no_tty.exit_code == 1 and "validation_failed: terminal: attach needs a terminal" in no_tty.stderr


def test_attach_from_another_server_attaches_a_client_on_the_pane_selected(
    env: Env, at: type[AtCli], servers: Servers
) -> None:
    panes = applied(env, at, target={"socket": "agt"})

    def agt(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return servers("agt", *args, check=check)

    dry = at.run("attach", "team/s1", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.split() == [
        "tmux", "-u", "-L", "agt", "attach-session", "-t", panes["team/s1"]
    ]  # fmt: skip
    assert clients(agt) == []
    env.reset_calls()
    # a terminal of another tmux server ($TMUX names it): nesting is what the user asked for
    servers("outer", "new-session", "-d", "-s", "o", "-x", "100", "-y", "30", f"{AGENTTOWER} attach team/s1")
    eventually(lambda: clients(agt) == [f"team {panes['team/s1']}"], what="a client on team/s1")
    assert [c.split()[:4] for c in env.tmux_calls()] == [
        ["-L", "agt", "list-panes", "-a"],
        ["-L", "agt", "attach-session", "-t"],
    ]
    assert at.run("attach", "pane/team/s1", "--dry-run").stdout == dry.stdout
    assert at.run("attach", "layout/team", "--dry-run").stdout.split()[-2:] == ["-t", "=team"]
    # a layout: its session, as it is
    servers("outer", "new-window", "-t", "=o:", f"{AGENTTOWER} attach layout team")
    eventually(lambda: len(clients(agt)) == 2, what="a second client")
    assert {c.split()[0] for c in clients(agt)} == {"team"}


def test_attach_from_a_client_of_the_same_server_switches_it(
    env: Env, at: type[AtCli], servers: Servers, tmp_path: Path
) -> None:
    panes = applied(env, at)
    env.tmux("new-session", "-d", "-s", "viewer", "-x", "100", "-y", "30", "sh")
    # one client on this test's server (from a pane of another server), looking at `viewer`
    servers("outer", "new-session", "-d", "-x", "100", "-y", "30", "env -u TMUX tmux attach -t =viewer")
    eventually(lambda: [c.split()[0] for c in clients(env.tmux)] == ["viewer"], what="the viewer's client")
    env.reset_calls()
    env.tmux("send-keys", "-t", "=viewer:", f"{AGENTTOWER} attach team/s2", "Enter")
    eventually(lambda: clients(env.tmux) == [f"team {panes['team/s2']}"], what="the client on team/s2")
    assert [c.split()[0] for c in env.tmux_calls() if not c.startswith("attach -t")] == [
        "list-panes",
        "switch-client",
    ]
    assert os.environ.get("TMUX") is None  # the test itself never was in a tmux client


def test_attach_and_screen_reach_a_container_pane_inside_its_container(
    env: Env, at: type[AtCli], servers: Servers, benches: Callable[..., Bench]
) -> None:
    bench = benches()
    launch = {k: "printer" for k in ("master:m1", "slave:s1", "slave:s2")}
    path = write(
        env.root / "box.yaml",
        layout("box", launch=launch, target=bench.target()),
        profile("printer", PRINTER),
    )
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    s1 = at.json("get", "panes", "box/s1")["status"]["tmuxPaneId"]  # type: ignore[index]
    shown = eventually(
        lambda: (r := at.run("screen", "box/s1")).exit_code == 0 and "screen-test-line" in r.stdout
    )
    assert shown
    dry = at.run("attach", "box/s1", "--dry-run")
    assert dry.stdout.split() == [
        "docker",
        "exec",
        "-it",
        bench.name,
        "tmux",
        "-u",
        "attach-session",
        "-t",
        s1,
    ]

    def inside() -> list[str]:
        return bench.tmux("list-clients", "-F", "#{client_session} #{pane_id}").stdout.split("\n")[:-1]

    assert inside() == []
    servers("outer", "new-session", "-d", "-x", "100", "-y", "30", f"{AGENTTOWER} attach box/s1")
    eventually(lambda: inside() == [f"box {s1}"], what="a client inside the container on box/s1")
    assert env.tmux_calls() == [] and not env.server_running()  # the host's tmux was never asked
