"""Crashes and races with real processes: kill -9 mid-pass, two CLIs at once.

The pane record is committed before tmux is asked for anything, so a crash at any
instant leaves nothing or a marked pane the next pass recognises: never a duplicate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


def start_cli(*args: str, **extra_env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agenttower", *args],
        env={**os.environ, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_calls(
    env: Env, count: int, timeout: float = 20, proc: subprocess.Popen[str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while len(env.tmux_calls()) < count:
        assert time.monotonic() < deadline, env.tmux_calls()
        assert proc is None or proc.poll() is None, "agenttower exited early"
        time.sleep(0.05)


def crash_at(env: Env, call: int, path: Path) -> None:
    proc = start_cli("apply", "-f", str(path), AT_HANG_AT=str(call))
    wait_for_calls(env, call, proc=proc)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def records(at: type[AtCli]) -> list[dict[str, object]]:
    return at.json("get", "panes", "--all")["items"]  # type: ignore[index, no-any-return]


def team(env: Env) -> Path:
    return write(
        env.root / "team.yaml",
        layout("team", launch={k: "s" for k in ("master:m1", "slave:s1", "slave:s2")}),
        profile("s", SLEEP),
    )


def test_fr020_crash_before_spawn_resumes_under_the_same_records(env: Env, at: type[AtCli]) -> None:
    path = team(env)
    crash_at(env, 2, path)  # call 1 observes, call 2 is the spawn batch: killed before tmux ran it
    stuck = records(at)
    assert {r["status"]["state"] for r in stuck} == {"creating"} and len(stuck) == 3  # type: ignore[index]
    assert env.panes() == []
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.stderr
    after = records(at)
    assert [r["status"]["id"] for r in after] == [r["status"]["id"] for r in stuck]  # type: ignore[index]
    assert {r["status"]["state"] for r in after} == {"ready"}  # type: ignore[index]
    assert sorted(p["record"] for p in env.panes()) == sorted(r["status"]["id"] for r in after)  # type: ignore[index]


def test_fr014_crash_during_the_probe_resumes_the_marked_panes_without_duplicates(
    env: Env, at: type[AtCli]
) -> None:
    path = team(env)
    proc = start_cli("apply", "-f", str(path), AGENTTOWER_PROBE_DELAY="30s")  # spawned, then probing
    deadline = time.monotonic() + 20
    while len(env.panes()) < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    marked = env.panes()
    assert all(p["title"].startswith("@MANAGED:") for p in marked)
    assert {r["status"]["state"] for r in records(at)} == {"creating"}  # type: ignore[index]
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.stderr
    after = env.panes()
    assert sorted(p["pane_id"] for p in after) == sorted(p["pane_id"] for p in marked)
    assert {p["title"] for p in after} == {"m1", "s1", "s2"}
    assert len(records(at)) == 3


def test_fr014_crash_before_the_markers_are_cleared_settles_them_later(env: Env, at: type[AtCli]) -> None:
    path = team(env)
    crash_at(env, 3, path)  # call 3 is the settle batch: records are ready, markers still set
    assert {r["status"]["state"] for r in records(at)} == {"ready"}  # type: ignore[index]
    assert all(p["title"].startswith("@MANAGED:") for p in env.panes())
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert {p["title"] for p in env.panes()} == {"m1", "s1", "s2"}
    assert len(records(at)) == 3


def test_fr019_concurrent_applies_are_serialized_never_duplicated(env: Env, at: type[AtCli]) -> None:
    path = team(env)
    other = write(env.root / "other.yaml", layout("other", launch={"master:m1": "s2"}), profile("s2", SLEEP))
    procs = [start_cli("apply", "-f", str(p), "--wait") for p in (path, path, other, path)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    assert not any("locked" in err for _, err in outputs)
    assert len(records(at)) == 6
    assert sorted(p["session"] for p in env.panes()) == ["other"] * 3 + ["team"] * 3
