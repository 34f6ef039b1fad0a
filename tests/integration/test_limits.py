"""Open files: servers agenttower starts can hold the panes it may ask of them, and
`doctor` says when a server someone else started cannot."""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Iterator

import pytest

from agenttower.runtime import limits, tmux
from tests.conftest import REAL_TMUX, AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


@pytest.fixture
def low_soft_limit() -> Iterator[int]:
    """This process's soft limit at 256, as a login shell often has it (then restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    tmux._RAISED.clear()
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        tmux._RAISED.clear()


def server_pid(env: Env) -> int:
    return int(env.tmux("display-message", "-p", "#{pid}").stdout)


def test_fr025_a_server_agenttower_starts_gets_the_hard_open_files_limit(
    env: Env, at: type[AtCli], low_soft_limit: int
) -> None:
    path = write(env.root / "team.yaml", layout("team", launch={"master:m1": "s"}), profile("s", SLEEP))
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    limit = limits.server_limit(server_pid(env))
    assert limit is not None and limit >= min(low_soft_limit, 1 << 20) > 256


def test_fr025_doctor_warns_when_a_running_server_cannot_hold_the_desired_panes(
    env: Env, at: type[AtCli]
) -> None:
    def low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    assert REAL_TMUX is not None
    subprocess.run(  # the user's own server, started from a shell with a low limit
        [REAL_TMUX, "new-session", "-d", "-s", "mine", "sleep 100000"], preexec_fn=low, check=True
    )
    assert limits.server_limit(server_pid(env)) == 128
    launch = {k: "s" for k in ("master:m1", "master:m2", "slave:s1", "slave:s2")}
    docs = [layout(f"big{i}", "2m+2s", launch=launch) for i in range(6)]  # 24 panes wanted
    write(env.desired_dir / "big.yaml", *docs, profile("s", SLEEP))
    report = json.loads(at.run("doctor", "-o", "json").stdout)
    (warning,) = [c for c in report["checks"] if c["name"].endswith("open files")]
    assert warning["status"] == "warn" and "128 open files" in warning["detail"]
    assert "24 panes" in warning["detail"]
