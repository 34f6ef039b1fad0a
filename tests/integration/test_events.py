"""Event-driven observation with the real controller: tmux's hooks wake it, so a dead or
killed agent is replaced without waiting for a resync (every controller here runs with
`--resync 3600s`: only an event can explain a pass)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator

import pytest

from agenttower.runtime import hooks
from tests.conftest import AtCli, Env, eventually
from tests.integration.test_controller import Controller, panes, ready, sleepy
from tests.manifests import write

pytestmark = pytest.mark.tmux


@pytest.fixture
def quiet(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Controller]]:
    """A controller whose only wake-ups are tmux events and file changes."""
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "0s")  # restart at once: no requeue deadline
    started: list[Controller] = []

    def start(*layouts: str) -> Controller:
        ctl = Controller(env, "--resync", "3600s", "--allow-empty").start()
        started.append(ctl)
        eventually(ready(at_cli(), *layouts), what="layouts ready")
        eventually(lambda: quiet_pass(ctl) and hooked(env), what="hooks installed and a quiet pass")
        return ctl

    try:
        yield start
    finally:
        for ctl in started:
            if ctl.proc is not None and ctl.proc.poll() is None:
                ctl.stop(signal.SIGKILL)


def at_cli() -> type[AtCli]:
    return AtCli


def quiet_pass(ctl: Controller) -> bool:
    """The last pass had nothing to do: no follow-up pass is scheduled before the resync."""
    passes = [line for line in ctl.text().splitlines() if "reconcile" in line and "actions=" in line]
    return bool(passes) and "actions=[]" in passes[-1]


def hooked(env: Env) -> bool:
    """Every hook of ours is in the host's server."""
    return hooked_in(env, env.tmux)


def hooked_in(env: Env, tmux: Callable[..., subprocess.CompletedProcess[str]]) -> bool:
    """Every hook of ours is in the server that `tmux` runs against."""
    index = hooks.index(instance_id(env))
    shown = [line for event in hooks.EVENTS for line in tmux("show-hooks", "-g", event).stdout.splitlines()]
    return len([line for line in shown if f"[{index}]" in line]) == len(hooks.EVENTS)


def record_of(at: type[AtCli], name: str) -> dict[str, str]:
    return next(p["status"] for p in panes(at) if p["metadata"]["name"] == name)


def replaced(at: type[AtCli], name: str, old: str) -> Callable[[], bool]:
    def check() -> bool:
        now = next((p for p in panes(at) if p["metadata"]["name"] == name), None)
        return bool(now and now["status"]["id"] != old and now["status"]["state"] == "ready")

    return check


def pane_pid(env: Env, tmux_id: str) -> int:
    return int(env.tmux("display-message", "-p", "-t", tmux_id, "#{pane_pid}").stdout)


def instance_id(env: Env) -> str:
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()[0])


def our_hooks(env: Env, owner_index: int) -> list[str]:
    shown = [
        line for event in hooks.EVENTS for line in env.tmux("show-hooks", "-g", event).stdout.splitlines()
    ]
    return [line for line in shown if f"[{owner_index}]" in line]


def test_fr013_an_agent_that_exits_is_replaced_on_tmux_s_event(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller]
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    quiet("team")
    old = record_of(at, "team/s1")
    os.kill(pane_pid(env, old["tmuxPaneId"]), signal.SIGKILL)
    eventually(replaced(at, "team/s1", old["id"]), what="s1 replaced after its process died")


def test_fr013_a_pane_killed_by_hand_is_recreated_on_tmux_s_event(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller]
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    quiet("team")
    old = record_of(at, "team/m1")
    env.tmux("kill-pane", "-t", old["tmuxPaneId"])
    eventually(replaced(at, "team/m1", old["id"]), what="m1 recreated after kill-pane")


def test_fr022_after_kill_server_the_listener_follows_the_new_server(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller]
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    quiet("team")
    first = {p["status"]["id"] for p in panes(at)}
    env.tmux("kill-server")  # the listener's wait fails: that is an event too
    eventually(
        lambda: ready(at, "team")() and not first & {p["status"]["id"] for p in panes(at)},
        what="every slot back on a new server",
    )
    old = record_of(at, "team/s2")
    os.kill(pane_pid(env, old["tmuxPaneId"]), signal.SIGKILL)  # heard on the new server too
    eventually(replaced(at, "team/s2", old["id"]), what="s2 replaced on the new server")


def test_fr013_our_hooks_sit_beside_the_users_and_leave_with_the_last_managed_pane(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller]
) -> None:
    mark = env.root / "user-hook-ran"
    env.tmux("new-session", "-d", "-s", "mine", "sleep 100000")  # the user's server and session
    env.tmux("set-hook", "-g", "pane-died", f"run-shell 'touch {mark}'")
    write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    ctl = quiet("team")
    index = hooks.index(instance_id(env))
    assert "pane-died[0]" in env.tmux("show-hooks", "-g", "pane-died").stdout  # the user's, untouched

    old = record_of(at, "team/s1")
    os.kill(pane_pid(env, old["tmuxPaneId"]), signal.SIGKILL)
    eventually(replaced(at, "team/s1", old["id"]), what="s1 replaced")
    eventually(mark.exists, what="the user's own pane-died hook to run as well")

    (env.desired_dir / "team.yaml").unlink()  # the last managed layout goes; the server stays
    eventually(lambda: {p["session"] for p in env.panes()} == {"mine"}, what="team pruned")
    eventually(lambda: not our_hooks(env, index), what="our hooks removed")
    assert "pane-died[0]" in env.tmux("show-hooks", "-g", "pane-died").stdout
    assert ctl.proc is not None and ctl.proc.poll() is None

    # and it still runs: a pane of the user's own dies after ours have gone
    mark.unlink()
    mine = env.tmux(
        "new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "mine:", "sleep 100000"
    ).stdout.strip()
    env.tmux("set-option", "-w", "-t", mine, "remain-on-exit", "on")  # pane-died, not pane-exited
    os.kill(pane_pid(env, mine), signal.SIGKILL)
    eventually(mark.exists, what="the user's pane-died hook to run once ours are removed")
    assert env.tmux("display-message", "-p", "-t", mine, "#{pane_dead}").stdout.strip() == "1"
    assert {p["session"] for p in env.panes()} == {"mine"}  # the user's dead pane is left alone


def test_fr022_after_kill_server_agents_come_back_in_waves(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """18 agents die with their server: no pass starts more than the wave (4), and every
    slot comes back, layouts in name order."""
    monkeypatch.setenv("AGENTTOWER_RECOVERY_WAVE", "4")
    names = [f"w{i}" for i in range(6)]
    for name in names:
        write(env.desired_dir / f"{name}.yaml", *sleepy(name, restartPolicy="Always"))
    ctl = quiet(*names)
    first = {p["status"]["id"] for p in panes(at)}
    before = len(ctl.text().splitlines())
    env.tmux("kill-server")
    eventually(
        lambda: ready(at, *names)() and not first & {p["status"]["id"] for p in panes(at)},
        timeout=60,
        what="all 18 back",
    )

    def passes() -> list[str]:
        return [
            line for line in ctl.text().splitlines()[before:] if "reconcile" in line and "actions=" in line
        ]

    # the last wave's records are ready before its pass has logged its line
    eventually(
        lambda: sum(line.count("'create pane ") for line in passes()) >= 18, what="the last wave logged"
    )
    waves = [line.count("'create pane ") for line in passes()]
    assert max(waves) == 4 and sum(waves) == 18, waves
    order = [word.split("/")[0] for line in passes() for word in line.split("'create pane ")[1:]]
    assert order == sorted(order)  # layout by layout, in name order


def test_fr013_an_event_that_lands_during_a_quiet_pass_gets_a_pass_of_its_own(
    env: Env, at: type[AtCli], quiet: Callable[..., Controller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shim in front of tmux holds one pass's listing: it takes the listing, then kills
    s1's agent and answers only once the listener has heard the death (it has started
    its next wait: the wake-up is on the controller's queue), so that pass plans
    nothing from a listing where s1 still lives. With `--resync 3600s` only the queued
    event can explain the pass that replaces s1."""
    arm, done = env.root / "arm", env.root / "done"
    front = env.root / "front"
    front.mkdir()
    shim = front / "tmux"
    shim.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"list-panes -a"*)\n'
        f'  if mv "{arm}" "{arm}.taken" 2>/dev/null; then\n'
        f'    out=$("{env.root}/bin/tmux" "$@"); rc=$?\n'
        f'    before=$(grep -c "wait-for agenttower-" "{env.tmux_log}")\n'
        f'    kill -9 "$(cat "{arm}.taken")"\n'
        "    i=0\n"
        f'    while [ "$(grep -c "wait-for agenttower-" "{env.tmux_log}")" -le "$before" ]; do\n'
        f'      i=$((i + 1)); [ "$i" -lt 600 ] || {{ echo unheard > "{done}"; break; }}; sleep 0.05\n'
        "    done\n"
        f'    [ -e "{done}" ] || echo heard > "{done}"\n'
        "    printf '%s\\n' \"$out\"; exit $rc\n"
        "  fi;;\n"
        "esac\n"
        f'exec "{env.root}/bin/tmux" "$@"\n'
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{front}:{os.environ['PATH']}")
    manifest = write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    ctl = quiet("team")
    old = record_of(at, "team/s1")
    before = len(ctl.text().splitlines())
    arm.write_text(str(pane_pid(env, old["tmuxPaneId"])))
    same = manifest.with_name(".team.yaml.tmp")  # a save that changes nothing wakes one pass
    same.write_bytes(manifest.read_bytes())
    same.replace(manifest)
    eventually(done.exists, what="a pass to take the held listing")
    assert done.read_text().strip() == "heard"  # the death was heard while that pass ran
    eventually(replaced(at, "team/s1", old["id"]), what="s1 replaced after the held pass")

    def passes() -> list[str]:  # a pass's line is logged after its records are written
        lines = ctl.text().splitlines()[before:]
        return [line for line in lines if "reconcile" in line and "actions=" in line]

    eventually(lambda: any("create pane team/s1" in line for line in passes()[1:]), what="the pass logged")
    assert "actions=[]" in passes()[0], passes()  # the held pass saw s1 alive and did nothing
