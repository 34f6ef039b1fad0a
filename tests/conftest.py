"""Shared fixtures: every test gets its own HOME, XDG dirs and tmux server.

`$TMUX` overrides `TMUX_TMPDIR`, so it is removed: a test run inside a developer's tmux
must never talk to that server. Each test's server is killed at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Env:
    root: Path
    home: Path
    state_dir: Path
    desired_dir: Path
    config_dir: Path
    tmux_log: Path

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real tmux against this test's server (not counted by the shim); `-u`
        like agenttower, so a test that sets a C locale still reads tab-separated rows."""
        return subprocess.run(
            [REAL_TMUX or "tmux", "-u", *args],
            capture_output=True,
            text=True,
            check=check,
            env=dict(os.environ),
        )

    def panes(self) -> list[dict[str, str]]:
        fmt = "#{session_name}\t#{pane_id}\t#{@agenttower_pane}\t#{pane_dead}\t#{pane_title}"
        out = self.tmux("list-panes", "-a", "-F", fmt, check=False)
        if out.returncode != 0:
            return []
        rows = []
        for line in out.stdout.splitlines():
            session, pane_id, record, dead, title = line.split("\t", 4)
            rows.append(
                {"session": session, "pane_id": pane_id, "record": record, "dead": dead, "title": title}
            )
        return rows

    def server_running(self) -> bool:
        return self.tmux("list-sessions", check=False).returncode == 0

    def tmux_calls(self, raw: bool = False) -> list[str]:
        """Every tmux process agenttower started, one argv line each (via the PATH shim),
        without the leading `-u` every call carries (unless `raw`), so tests read commands."""
        if not self.tmux_log.exists():
            return []
        lines = self.tmux_log.read_text().splitlines()
        return lines if raw else [line.removeprefix("-u ") for line in lines]

    def reset_calls(self) -> None:
        self.tmux_log.unlink(missing_ok=True)


REAL_TMUX = shutil.which("tmux")

# CI replays the same examples every run (a new failing example is a finding for a
# developer's machine, not a coin flip on a submission); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    root = tmp_path
    home = root / "home"
    home.mkdir()
    shim_dir = root / "bin"
    shim_dir.mkdir()
    tmux_log = root / "tmux-calls.log"
    if REAL_TMUX:
        shim = shim_dir / "tmux"
        shim.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$*" >> "{tmux_log}"\n'
            # AT_HANG_AT=N: the N-th tmux call (and later ones) hang, to kill agenttower mid-pass
            f'n=$(wc -l < "{tmux_log}")\n'
            'if [ -n "$AT_HANG_AT" ] && [ "$n" -ge "$AT_HANG_AT" ]; then exec sleep 600; fi\n'
            # AT_SLOW_CALL=N: the N-th call stalls 5 s first (a tmux that does not answer in time)
            'if [ -n "$AT_SLOW_CALL" ] && [ "$n" -eq "$AT_SLOW_CALL" ]; then sleep 5; fi\n'
            # AT_FAIL_CALL=N: the N-th call answers AT_FAIL_MESSAGE on stderr and exits 1, as a
            # client whose server exits under it does (the real tmux is not asked)
            'if [ -n "$AT_FAIL_CALL" ] && [ "$n" -eq "$AT_FAIL_CALL" ]; then\n'
            '  printf "%s\\n" "$AT_FAIL_MESSAGE" >&2; exit 1; fi\n'
            # AT_BEFORE_SOURCE="tmux args": run them first when a batch arrives (a race with another client)
            'case "$*" in *source-file*) if [ -n "$AT_BEFORE_SOURCE" ]; then\n'
            f'  "{REAL_TMUX}" $AT_BEFORE_SOURCE; unset AT_BEFORE_SOURCE; fi;; esac\n'
            f'exec "{REAL_TMUX}" "$@"\n'
        )
        shim.chmod(0o755)
    for var in ("TMUX", "TMUX_PANE", "AGENTTOWER_STATE_DIR", "AGENTTOWER_DESIRED_DIR"):
        monkeypatch.delenv(var, raising=False)
    tmpdir = Path("/tmp") / f"at-{os.getpid()}-{root.name[-12:]}"  # short: unix socket paths are limited
    tmpdir.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmpdir))
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    monkeypatch.setenv("PATH", f"{shim_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", os.environ.get("AGENTTOWER_TEST_PROBE_DELAY", "300ms"))
    monkeypatch.setenv("SHELL", "/bin/sh")
    e = Env(
        root=root,
        home=home,
        state_dir=root / "state" / "opensoft" / "agenttower",
        desired_dir=root / "config" / "opensoft" / "agenttower" / "desired",
        config_dir=root / "config" / "opensoft" / "agenttower",
        tmux_log=tmux_log,
    )
    try:
        yield e
    finally:
        if REAL_TMUX:
            subprocess.run([REAL_TMUX, "kill-server"], capture_output=True, env=dict(os.environ))
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.fixture
def fast(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short waits for tests that run many passes: probe, kill grace, first back-off
    (after `env`, which sets its own probe delay)."""
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", "100ms")
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "0s")
    monkeypatch.setenv("AGENTTOWER_KILL_GRACE", "300ms")


def run_cli(*args: str) -> Result:
    from agenttower.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def at() -> type[AtCli]:
    return AtCli


class AtCli:
    """`at.run("apply", "-f", ...)`: the real CLI, in-process (same code as the console script)."""

    @staticmethod
    def run(*args: str) -> Result:
        return run_cli(*args)

    @staticmethod
    def json(*args: str) -> object:
        import json

        result = run_cli(*args, "-o", "json")
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)


def eventually(check: Callable[[], object], timeout: float = 20, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (returned), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


requires_tmux = pytest.mark.skipif(REAL_TMUX is None, reason="tmux is not installed")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's counts (tests/fault_report.py), shown without `-s` too."""
    from tests import fault_report

    written = fault_report.write()
    for line in fault_report.lines():
        terminalreporter.write_line(line)
    if written is not None:
        terminalreporter.write_line(f"fault-suite: counts written to {written}")


def followed(pane: str, count: int) -> list[Any]:
    """The next `count` lines `logs PANE -f --tail 0 -o json` prints, as they come."""
    argv = [sys.executable, "-m", "agenttower", "logs", pane, "-f", "--tail", "0", "-o", "json"]
    follow = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        assert follow.stdout is not None
        return [json.loads(follow.stdout.readline()) for _ in range(count)]
    finally:
        follow.kill()
        follow.wait(timeout=10)
