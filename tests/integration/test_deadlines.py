"""Deadlines and honest answers: a verb ends by its `--timeout` whatever tmux does, a
failure it reports never takes effect later, and an answer that says "accepted" means
the desired dir holds the change and a pass will converge it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.integration.test_controller import Controller, ready, sleepy
from tests.manifests import write

pytestmark = pytest.mark.tmux

HANG_GUARD_S = 30  # far above any deadline below: only a hang reaches it


@pytest.fixture
def stopped_server(env: Env) -> Iterator[int]:
    """The test's own tmux server, SIGSTOPped (a hung server: clients connect and wait);
    resumed before the env fixture's teardown asks it to exit."""
    env.tmux("new-session", "-d", "-s", "bystander")
    pid = int(env.tmux("display-message", "-p", "#{pid}").stdout.strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script as a process, so a hang is caught by a timeout, not waited out."""
    return subprocess.run(
        [sys.executable, "-m", "agenttower", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env=dict(os.environ),
        check=False,
    )


def test_fr022_apply_wait_on_a_hung_server_fails_by_its_timeout_naming_the_target(
    env: Env, stopped_server: int
) -> None:
    path = write(env.root / "team.yaml", *sleepy("team"))
    result = cli("apply", "-f", str(path), "--wait", "--timeout", "3s")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unchanged" not in result.stdout
    assert "layout/team pending" in result.stdout
    assert "layout team was not created: target host did not answer" in result.stderr
    assert (env.desired_dir / "team.yaml").exists()  # accepted: a later pass creates it


def test_fr022_apply_json_on_a_hung_server_says_pending_not_unchanged(env: Env, stopped_server: int) -> None:
    path = write(env.root / "team.yaml", *sleepy("team"))
    result = cli("apply", "-f", str(path), "--timeout", "2s", "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr  # without --wait: accepted is success
    answer = json.loads(result.stdout)
    assert answer["layouts"] == [{"name": "team", "result": "pending"}]
    assert answer["pending"] == [{"name": "team", "target": "host", "reason": answer["pending"][0]["reason"]}]
    assert "did not answer" in answer["pending"][0]["reason"]


def stuck_on_tmux(env: Env, ctl: Controller) -> bool:
    """A pass waits on the stopped server: its listing started after the stop, or a call a
    pass had already begun (a requeued pass that ran into the stop) is still a client of it.
    A pass's tmux calls are the controller's own children; the listener's wait is not."""
    if any(c.startswith("list-panes") for c in env.tmux_calls()):
        return True
    assert ctl.proc is not None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if (
            int(fields[1]) == ctl.proc.pid
            and Path(argv[0].decode()).name == "tmux"
            and b"wait-for" not in argv
        ):
            return True
    return False


def test_fr022_controller_stops_on_sigterm_while_its_pass_is_stuck_on_a_hung_server(
    env: Env, at: type[AtCli]
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    ctl = Controller(env, "--resync", "3600s")
    ctl.start()
    try:
        eventually(ready(at, "team"), what="team ready")
        eventually(lambda: "actions=[]" in ctl.text(), what="a quiet pass")
        env.tmux("new-session", "-d", "-s", "bystander")
        pid = int(env.tmux("display-message", "-p", "#{pid}").stdout.strip())
        env.reset_calls()
        os.kill(pid, signal.SIGSTOP)
        try:
            write(env.desired_dir / "two.yaml", *sleepy("two"))  # the watcher starts a pass
            eventually(lambda: stuck_on_tmux(env, ctl), what="stuck pass")
            assert ctl.proc is not None
            ctl.proc.send_signal(signal.SIGTERM)
            assert ctl.proc.wait(timeout=15) == 0
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        if ctl.proc is not None and ctl.proc.poll() is None:
            ctl.stop(signal.SIGKILL)
    text = ctl.text()
    assert "pass interrupted" in text and "SIGTERM" in text and "host" in text
    assert "controller stopped" in text


def test_fr009_delete_on_an_unobservable_target_fails_before_touching_the_desired_dir(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(env.desired_dir / "team.yaml", *sleepy("team"))
    before = path.read_text()
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    env.reset_calls()
    monkeypatch.setenv("AT_FAIL_CALL", "1")  # the delete's observation
    monkeypatch.setenv("AT_FAIL_MESSAGE", "lost server: protocol version mismatch")
    result = at.run("delete", "layout", "team")
    assert result.exit_code == 1, result.output + result.stderr
    assert "cannot observe target host" in result.stderr
    assert path.read_text() == before  # the manifest is where it was
    monkeypatch.delenv("AT_FAIL_CALL")
    assert at.run("diff").exit_code == 0  # so no later pass prunes it as "manifest removed"
    assert {p["session"] for p in env.panes()} == {"team"}


def test_fr022_apply_whose_pass_fails_after_the_write_answers_accepted(env: Env, at: type[AtCli]) -> None:
    env.state_dir.mkdir(parents=True)
    audit = env.state_dir / "events.jsonl"
    audit.mkdir()  # the pass records its work, then cannot append the audit trail
    path = write(env.root / "team.yaml", *sleepy("team"))
    result = at.run("apply", "-f", str(path), "-o", "json")
    assert result.exit_code == 4, result.output + result.stderr
    answer = json.loads(result.stdout)
    assert answer["accepted"] is True and answer["layouts"] == [{"name": "team", "result": "accepted"}]
    assert answer["errors"][0]["code"] == "internal_error"
    assert (env.desired_dir / "team.yaml").exists()
    audit.rmdir()
    again = at.run("apply", "-f", str(path), "--wait")  # the accepted change converges
    assert again.exit_code == 0, again.output + again.stderr
    assert "managed_pane_created" in audit.read_text()


def test_fr022_apply_through_the_controller_whose_pass_fails_answers_accepted(
    env: Env, at: type[AtCli]
) -> None:
    ctl = Controller(env)
    ctl.start()
    try:
        eventually(lambda: "reconcile" in ctl.text(), what="the boot pass")
        audit = env.state_dir / "events.jsonl"
        audit.mkdir()
        path = write(env.root / "team.yaml", *sleepy("team"))
        result = at.run("apply", "-f", str(path))
        assert result.exit_code == 4, result.output + result.stderr
        assert "layout/team accepted" in result.stdout
        assert "error: internal_error" in result.stderr
        audit.rmdir()
        eventually(ready(at, "team"), what="the controller converges it")
        eventually(lambda: audit.is_file() and "managed_pane_created" in audit.read_text(), what="audit")
        assert ctl.proc is not None and ctl.proc.poll() is None  # its own failing passes did not end it
    finally:
        if ctl.proc is not None:
            ctl.stop()
