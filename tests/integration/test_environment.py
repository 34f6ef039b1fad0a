"""The pane environment, read back from inside real panes: a documented base plus the
profile's env (PATH included) plus the pane's identity, whoever ran `apply`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.manifests import layout, profile, write

pytestmark = pytest.mark.tmux

# What the applying process carries and no pane may see.
LEAKY = {"VIRTUAL_ENV": "/leaky/venv", "PS1": "leaky> ", "LEAKY_FROM_SHELL": "1", "PWD": "/nonexistent"}
DUMP = 'env > "$DUMP/$AGENTTOWER_LABEL.tmp" && mv "$DUMP/$AGENTTOWER_LABEL.tmp" "$DUMP/$AGENTTOWER_LABEL.env"'
# per server, per pane, per record, per slot's conversation
VARYING = {"TMUX", "TMUX_PANE", "AGENTTOWER_PANE_ID", "AGENTTOWER_SESSION_ID"}


def _tool(env: Env) -> Path:
    """A launch command that exists only on the profile's PATH, as `~/.npm/bin/agent` would."""
    bindir = env.root / "agent-bin"
    bindir.mkdir(exist_ok=True)
    tool = bindir / "at-agent"
    tool.write_text(f"#!/bin/sh\n{DUMP}\nexec sleep 600\n")
    tool.chmod(0o755)
    return bindir


def _manifest(env: Env, dump: Path) -> list[dict[str, Any]]:
    agent_path = f"{_tool(env)}:/usr/bin:/bin"
    return [
        layout("envy", launch={"master:m1": "lead", "slave:s1": "helper", "slave:s2": "helper"}),
        profile("lead", ["at-agent"], env={"PATH": agent_path, "API_TOKEN": "lead-only", "DUMP": str(dump)}),
        profile("helper", ["sh", "-c", f"{DUMP}; exec sleep 600"], env={"DUMP": str(dump)}),
    ]


def _dumps(dump: Path) -> dict[str, dict[str, str]]:
    def read() -> dict[str, dict[str, str]] | None:
        files = {p.stem: p for p in dump.glob("*.env")}
        if set(files) != {"m1", "s1", "s2"}:
            return None
        return {
            label: dict(line.split("=", 1) for line in f.read_text().splitlines())
            for label, f in files.items()
        }

    return eventually(read, what="every pane to dump its environment")  # type: ignore[no-any-return]


def _ids(at: type[AtCli], key: str = "id") -> dict[str, str]:
    items = at.json("get", "panes")["items"]  # type: ignore[index]
    return {p["spec"]["label"]: p["status"][key] for p in items}


@dataclass(frozen=True)
class Applied:
    dump: Path  # where each pane wrote its environment
    seen: dict[str, dict[str, str]]  # label -> the variables that pane started with


@pytest.fixture
def from_a_shell(env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch) -> Applied:
    """`envy` applied from a shell that carries VIRTUAL_ENV, PS1 and friends."""
    dump = env.root / "dump"
    dump.mkdir()
    for key, value in LEAKY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"/leaky/bin:{os.environ['PATH']}")
    path = write(env.root / "envy.yaml", *_manifest(env, dump))
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    for key in LEAKY:
        monkeypatch.delenv(key)
    return Applied(dump, _dumps(dump))


def test_fr002_profile_path_is_the_agents_path_and_the_shell_does_not_leak(
    env: Env, at: type[AtCli], from_a_shell: Applied
) -> None:
    seen = from_a_shell.seen
    ids, sessions = _ids(at), _ids(at, "sessionId")

    assert seen["m1"]["PATH"] == f"{env.root / 'agent-bin'}:/usr/bin:/bin"  # found at-agent through it
    default_path = f"{env.home}/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert seen["s1"]["PATH"] == default_path  # not the applying shell's /leaky/bin
    for label, variables in seen.items():
        assert not set(LEAKY) - {"PWD"} & set(variables), label
        assert variables["PWD"] == str(env.home)  # no stale PWD: a pane with no workingDir starts in HOME
        assert variables["HOME"] == str(env.home)
        assert variables["LANG"] == "C.UTF-8"
        assert variables["AGENTTOWER_LAYOUT"] == "envy"
        assert variables["AGENTTOWER_LABEL"] == label
        assert variables["AGENTTOWER_PANE"] == f"envy/{label}"
        assert variables["AGENTTOWER_PANE_ID"] == ids[label]
        assert variables["AGENTTOWER_SESSION_ID"] == sessions[label]
        assert variables["TMUX_PANE"].startswith("%")


def test_fr002_one_panes_env_reaches_no_other_pane_nor_the_session(
    env: Env, at: type[AtCli], from_a_shell: Applied
) -> None:
    seen = from_a_shell.seen
    assert seen["m1"]["API_TOKEN"] == "lead-only"
    assert "API_TOKEN" not in seen["s1"] and "API_TOKEN" not in seen["s2"]
    session_env = env.tmux("show-environment", "-t", "=envy").stdout
    global_env = env.tmux("show-environment", "-g").stdout
    assert "API_TOKEN" not in session_env and "DUMP" not in session_env
    assert "API_TOKEN" not in global_env
    # a pane the user splits into the session inherits none of it either
    hand = env.root / "hand.env"
    env.tmux("split-window", "-t", "=envy:", "--", "sh", "-c", f"env > {hand}.tmp && mv {hand}.tmp {hand}")
    eventually(hand.exists, what="the hand-split pane's environment")
    assert "API_TOKEN=" not in hand.read_text()

    described = at.run("describe", "pane", "envy/m1")
    assert described.exit_code == 0, described.stderr
    assert f"PATH={env.root / 'agent-bin'}:/usr/bin:/bin" in described.stdout
    assert "API_TOKEN=***" in described.stdout and "lead-only" not in described.stdout
    assert "AGENTTOWER_PANE=envy/m1" in described.stdout
    assert "HOME=<the tmux server's HOME" in described.stdout


def test_fr002_same_manifest_same_environment_from_a_shell_and_from_the_controller(
    env: Env, at: type[AtCli], from_a_shell: Applied
) -> None:
    dump, by_shell = from_a_shell.dump, from_a_shell.seen
    assert at.run("delete", "layout", "envy").exit_code == 0
    eventually(lambda: not env.server_running(), what="the tmux server to exit with its last session")
    for old in dump.glob("*.env"):
        old.unlink()

    # the controller runs with another environment (as under systemd) and starts the server itself
    other = {
        **os.environ,
        "VIRTUAL_ENV": "/controller/venv",
        "PS1": "$ ",
        "PATH": f"/ctl/bin:{os.environ['PATH']}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "agenttower", "controller", "run", "--resync", "2s"],
        env=other,
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=(env.root / "controller.log").open("ab"),
        start_new_session=True,
    )
    try:
        write(env.desired_dir / "envy.yaml", *_manifest(env, dump))
        by_controller = _dumps(dump)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)

    def stable(variables: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in variables.items() if k not in VARYING}

    for label in ("m1", "s1", "s2"):
        assert stable(by_controller[label]) == stable(by_shell[label]), json.dumps(
            [by_shell[label], by_controller[label]], indent=1
        )


def test_fr002_systemd_like_minimal_environment_finds_an_agent_in_local_bin(env: Env) -> None:
    """Under systemd the applying process has PATH=/usr/bin:/bin and no locale; an agent
    installed in ~/.local/bin (Claude Code's own installer puts it there) still starts."""
    local_bin = env.home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    dump = env.root / "dump"
    dump.mkdir()
    agent = local_bin / "at-agent"
    agent.write_text(f"#!/bin/sh\n{DUMP}\nexec sleep 600\n")
    agent.chmod(0o755)
    docs = [
        layout("svc", launch={"master:m1": "local"}),
        profile("local", ["at-agent"], env={"DUMP": str(dump)}),
    ]
    path = write(env.root / "svc.yaml", *docs)
    minimal = {
        key: os.environ[key] for key in ("HOME", "TMUX_TMPDIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME")
    } | {"PATH": "/usr/bin:/bin", "AGENTTOWER_PROBE_DELAY": "300ms", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "agenttower", "apply", "-f", str(path), "--wait"],
        env=minimal,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    eventually((dump / "m1.env").exists, what="the agent from ~/.local/bin to start")
    seen = dict(line.split("=", 1) for line in (dump / "m1.env").read_text().splitlines())
    assert seen["PATH"].startswith(f"{env.home}/.local/bin:")
    assert seen["LANG"] == "C.UTF-8"
