"""Layouts on another machine over ssh, against a real `sshd` this suite starts on the
loopback interface.

Each test starts its own sshd (`sshd -D -e -f CONFIG` as the current user, on a free
port of 127.0.0.1) with a throw-away host key, a throw-away user key as its only
authorized key, and `SetEnv TMUX_TMPDIR=... HOME=...` so the "remote" tmux server is a
server of the test's own, never the machine's default one (nor the test's host
server). agenttower reaches it through `AGENTTOWER_SSH`, a wrapper that logs each ssh
call and adds `-F CONFIG` (the test's client config: that key, that known_hosts, no
agent), so the user's ~/.ssh is never read. Without sshd these tests skip and say
why; `.ci/run` installs openssh-server and sets AGENTTOWER_REQUIRE_SSH=1, so in CI
they fail instead.

A container on the "remote" host is a bench container of the real docker engine
(tests/integration/test_containers.py's `benches`), reached as `ssh remote docker exec
…`: the sshd's logins run this machine's docker client, which is that host's own.
Without an engine those tests skip (AGENTTOWER_REQUIRE_DOCKER=1: they fail).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_TMUX, AtCli, Env, eventually, followed
from tests.integration.test_containers import Bench, benches, docker_engine
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["benches", "docker_engine"]  # the fixtures, used by name

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH = shutil.which("ssh")
KEYGEN = shutil.which("ssh-keygen")
HOST = "remote"  # the client config's alias for 127.0.0.1:PORT
LABELS_2M2S = ["master:m1", "master:m2", "slave:s1", "slave:s2"]


def _unavailable(reason: str) -> None:
    if os.environ.get("AGENTTOWER_REQUIRE_SSH") == "1":
        pytest.fail(f"{reason} (AGENTTOWER_REQUIRE_SSH=1: apt-get install openssh-server openssh-client)")
    pytest.skip(f"{reason}: apt-get install openssh-server openssh-client")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc's parent links."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


@dataclass
class Remote:
    """One throw-away sshd and the tmux server it gives its logins."""

    root: Path  # short (under /tmp): the remote tmux socket lives below it
    port: int
    config: Path
    log: Path
    calls_log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def tmux_tmpdir(self) -> Path:
        return self.root / "rtmux"

    @property
    def home(self) -> Path:
        return self.root / "rhome"

    def start(self) -> None:
        assert SSHD is not None
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        eventually(lambda: "Server listening" in self.log.read_text() or self._died(), 20, "sshd listening")
        assert self.proc.poll() is None, self.log.read_text()[-2000:]

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """sshd and every connection it serves (the multiplexed masters' sessions)."""
        if self.proc is None:
            return
        for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The remote tmux server, asked directly (not counted as an ssh call)."""
        return subprocess.run(
            [REAL_TMUX or "tmux", "-u", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TMUX_TMPDIR": str(self.tmux_tmpdir)},
        )

    def sessions(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in self.tmux("list-panes", "-a", "-F", "#{session_name}").stdout.splitlines():
            found[line] = found.get(line, 0) + 1
        return found

    def ssh_calls(self) -> list[str]:
        return self.calls_log.read_text().splitlines() if self.calls_log.exists() else []

    def reset_calls(self) -> None:
        self.calls_log.unlink(missing_ok=True)


@pytest.fixture
def remote(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Remote]:
    if SSHD is None or SSH is None or KEYGEN is None:
        _unavailable("no sshd, ssh or ssh-keygen")
    assert SSHD is not None and KEYGEN is not None
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    root = Path(tempfile.mkdtemp(prefix="at-ssh-", dir="/tmp"))
    for key in ("host_key", "user_key"):
        subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
    (root / "rtmux").mkdir()
    (root / "rhome").mkdir()
    shutil.copy(root / "user_key.pub", root / "authorized_keys")
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"SetEnv TMUX_TMPDIR={root / 'rtmux'} HOME={root / 'rhome'}\n"
    )
    host_key = (root / "host_key.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    client = root / "ssh_config"
    client.write_text(
        f"Host {HOST}\n  HostName 127.0.0.1\n  Port {port}\n  User {os.environ.get('USER') or 'root'}\n"
        f"  IdentityFile {root / 'user_key'}\n  IdentitiesOnly yes\n  IdentityAgent none\n"
        f"  UserKnownHostsFile {root / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
    )
    calls_log = env.root / "ssh-calls.log"
    wrapper = env.root / "ssh-wrapper"
    killer = root / "kill-sshd"  # sshd and all below it (its connections), by pid
    killer.write_text(
        "#!/bin/sh\n"
        'tree() { for c in $(ps -o pid= --ppid "$1"); do tree "$c"; done; kill -9 "$1"; }\n'
        f"tree $(cat {shlex.quote(str(root / 'sshd.pid'))})\n"
    )
    killer.chmod(0o755)
    wrapper.write_text(
        "#!/bin/sh\n"
        f"DROPPED={shlex.quote(str(root / 'dropped'))} KILLER={shlex.quote(str(killer))}\n"
        f'printf "%s\\n" "$*" >> {shlex.quote(str(calls_log))}\n'
        # AT_SSHD_DIES_AT=N: the N-th ssh call first kills sshd and its connections (mid-pass)
        f"n=$(wc -l < {shlex.quote(str(calls_log))})\n"
        f'if [ -n "$AT_SSHD_DIES_AT" ] && [ "$n" -eq "$AT_SSHD_DIES_AT" ]; then\n'
        f"  {shlex.quote(str(killer))}; fi\n"
        # AT_SSHD_DIES_DURING_BATCH=1: the first spawn batch loses its connection while it runs
        'case "$*" in *source-file*) if [ -n "$AT_SSHD_DIES_DURING_BATCH" ] && ! [ -e "$DROPPED" ]; then\n'
        '  touch "$DROPPED"; (sleep 0.15; "$KILLER") & fi;; esac\n'
        f'exec {shlex.quote(str(SSH))} -F {shlex.quote(str(client))} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("AGENTTOWER_SSH", str(wrapper))
    box = Remote(root, port, config, root / "sshd.log", calls_log)
    box.start()
    try:
        yield box
    finally:
        box.kill()
        box.tmux("kill-server")
        shutil.rmtree(root, ignore_errors=True)
        from agenttower.runtime import ssh

        masters = ssh.control_dir(env.state_dir)
        if not str(masters).startswith(str(env.root)):
            shutil.rmtree(masters, ignore_errors=True)


def on_remote(name: str, labels: list[str], **spec: Any) -> dict[str, Any]:
    return layout(name, "2m+2s", target={"host": HOST}, launch=dict.fromkeys(labels, "sleepy"), **spec)


def panes_json(at: type[AtCli]) -> dict[str, dict[str, Any]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict)
    return {i["metadata"]["name"]: i for i in data["items"]}


def states(at: type[AtCli]) -> dict[str, str]:
    return {k: v["status"]["state"] for k, v in panes_json(at).items()}


def apply_ok(at: type[AtCli], path: Path, *extra: str) -> str:
    result = at.run("apply", "-f", str(path), *extra)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stderr


EVERY = {f"team/{label.split(':')[1]}" for label in LABELS_2M2S}


def test_a_2m2s_layout_converges_on_the_remote_host_and_a_no_op_pass_is_one_round_trip(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    path = write(env.root / "team.yaml", on_remote("team", LABELS_2M2S), profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    assert states(at) == dict.fromkeys(EVERY, "ready")
    assert {v["status"]["target"] for v in panes_json(at).values()} == {f"ssh:{HOST}"}
    assert remote.sessions() == {"team": 4}  # on the remote server ...
    assert not env.server_running()  # ... and nothing on this host's
    assert env.tmux_calls() == []
    creation = remote.ssh_calls()
    assert all("BatchMode=yes" in call and "ControlMaster=auto" in call for call in creation)
    remote.reset_calls()
    apply_ok(at, path)  # converged: one round trip, the listing
    again = remote.ssh_calls()
    assert len(again) == 1 and "list-panes" in again[0], again
    # through one multiplexed master: a single login for every call of both passes
    assert remote.log.read_text().count("Accepted publickey") == 1


def test_a_label_and_a_command_with_spaces_and_quotes_arrive_whole(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    """ssh joins its arguments with spaces for the remote shell: each word is quoted."""
    marker = remote.root / 'it\'s "here" now'
    quoted = profile(
        "quoted", ["sh", "-c", 'printf "%s" "$1" > "$2"; exec sleep 600', "x", "a 'b' \"c\"", str(marker)]
    )
    doc = layout(
        "team",
        None,
        target={"host": HOST},
        panes=[{"role": "slave", "capability": "worker", "labelPattern": "s1", "launch": "quoted"}],
    )
    apply_ok(at, write(env.root / "q.yaml", doc, quoted), "--wait")
    eventually(marker.exists, what="the pane's command ran with its arguments intact")
    assert marker.read_text() == "a 'b' \"c\""
    assert states(at) == {"team/s1": "ready"}


def test_killing_sshd_mid_pass_leaves_records_untouched_and_the_next_pass_converges(
    env: Env, at: type[AtCli], remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass lists the host (one pane gone: a replacement is due), then sshd dies with
    its connections as the next call goes out (stopping what is left of the dead pane's
    processes): every later call fails. The host is
    indeterminate from then on: no record fails, none is replaced twice, and once sshd
    is back the next pass converges to exactly the four panes."""
    path = write(
        env.root / "team.yaml",
        on_remote("team", LABELS_2M2S, restartPolicy="Always"),
        profile("sleepy", SLEEP),
    )
    apply_ok(at, path, "--wait")
    before = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()}
    gone = panes_json(at)["team/s2"]["status"]["tmuxPaneId"]
    remote.tmux("kill-pane", "-t", gone)
    remote.reset_calls()
    monkeypatch.setenv("AT_SSHD_DIES_AT", "2")  # the listing answers; the batch meets a dead host
    result = at.run("apply", "-f", str(path))
    calls = remote.ssh_calls()
    assert "list-panes" in calls[0] and len(calls) >= 2, calls  # what came after met a dead host
    assert remote.proc is not None and remote.proc.wait(timeout=10) is not None  # sshd is dead
    remote.proc = None
    assert result.exit_code in (0, 2), result.output + result.stderr
    after = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()}
    # s2's death was seen by the listing (a fact); its successor never started: the host
    # went before stopping what was left of it, so the same record stays, nothing else moved
    assert after == {**before, "team/s2": ("failed", before["team/s2"][1])}, after
    monkeypatch.delenv("AT_SSHD_DIES_AT")
    remote.reset_calls()
    diff = at.run("diff")
    assert diff.exit_code == 2 and "ssh: unreachable" in diff.stderr, diff.stderr
    assert len(remote.ssh_calls()) == 3  # unreachable may pass: retried after 1 s and 2 s
    doctor = at.run("doctor")
    assert doctor.exit_code == 1 and f"ssh host (ssh:{HOST})" in doctor.output
    assert "sshd listens" in doctor.output, doctor.output
    remote.start()
    apply_ok(at, path, "--wait")
    assert states(at) == dict.fromkeys(EVERY, "ready")
    assert remote.sessions() == {"team": 4}


def test_a_wrong_host_key_is_refused_with_its_own_error_and_nothing_is_touched(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    other = remote.root / "other_key"
    assert KEYGEN is not None
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = (other.with_suffix(".pub")).read_text().split()
    (remote.root / "known_hosts").write_text(f"[127.0.0.1]:{remote.port} {fake[0]} {fake[1]}\n")
    path = write(env.root / "team.yaml", on_remote("team", LABELS_2M2S), profile("sleepy", SLEEP))
    result = at.run("apply", "-f", str(path))
    assert "host key" in result.stderr + result.output, result.stderr + result.output
    assert remote.sessions() == {}  # not a pane was started there
    assert "Accepted publickey" not in remote.log.read_text()
    assert len(remote.ssh_calls()) == 1  # a host key refusal is not retried
    doctor = at.run("doctor")
    assert doctor.exit_code != 0
    assert f"ssh host (ssh:{HOST})" in doctor.output and "known_hosts" in doctor.output


def remote_hooked(remote: Remote, owner: str) -> bool:
    shown = (
        remote.tmux("show-hooks", "-g", "pane-died").stdout
        + remote.tmux("show-hooks", "-g", "after-kill-pane").stdout
    )
    return shown.count(f"wait-for -S agenttower-{owner}") == 2


def remote_waiters(remote: Remote, owner: str) -> int:
    """`tmux wait-for` clients blocked on our channel on the remote server (under sshd)."""
    found = 0
    for pid in _descendants(remote.proc.pid if remote.proc else -1):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found += b"wait-for" in argv and f"agenttower-{owner}".encode() in argv
    return found


def test_a_killed_remote_agent_is_replaced_by_the_event_not_the_resync(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    """The listener's waiter runs on the remote server through the same ssh connection;
    with `--resync 3600s` only its event can explain the replacement."""
    from tests.integration.test_controller import Controller
    from tests.integration.test_events import instance_id

    doc = on_remote("team", LABELS_2M2S, restartPolicy="Always")
    write(env.desired_dir / "team.yaml", doc, profile("sleepy", SLEEP))
    ctl = Controller(env, "--resync", "3600s", "--allow-empty").start(AGENTTOWER_BACKOFF_BASE="0s")
    try:
        eventually(lambda: states(at) == dict.fromkeys(EVERY, "ready"), 60, "converged over ssh")
        owner = instance_id(env)
        eventually(
            lambda: remote_hooked(remote, owner) and remote_waiters(remote, owner) == 1, 30, "listening"
        )
        old = panes_json(at)["team/s1"]["status"]
        pid = remote.tmux("display-message", "-p", "-t", old["tmuxPaneId"], "#{pane_pid}").stdout.strip()
        os.kill(int(pid), signal.SIGKILL)

        def replaced() -> bool:
            now = panes_json(at).get("team/s1")
            return bool(now and now["status"]["id"] != old["id"] and now["status"]["state"] == "ready")

        eventually(replaced, 30, "s1 replaced on the remote host")
        assert remote.sessions() == {"team": 4}
    finally:
        ctl.stop()


def test_logs_of_a_remote_pane_stream_over_ssh_and_follow(env: Env, at: type[AtCli], remote: Remote) -> None:

    from agenttower.reconcile.logs import REMOTE_LOGS

    tick = profile("tick", ["sh", "-c", "while :; do echo tick; sleep 0.2; done"])
    doc = layout(
        "team",
        None,
        target={"host": HOST},
        panes=[{"role": "master", "capability": "worker", "labelPattern": "m1"}],
        launch={"master:m1": "tick"},
    )
    apply_ok(at, write(env.root / "t.yaml", doc, tick), "--wait")
    assert panes_json(at)["team/m1"]["status"]["logPath"] == f"~/{REMOTE_LOGS}/team/m1.log"
    assert (remote.home / REMOTE_LOGS / "team" / "m1.log").exists()  # written on the remote host
    eventually(lambda: at.run("logs", "team/m1").stdout.count("tick") >= 3, what="ticks over ssh")
    record = panes_json(at)["team/m1"]["status"]["id"]
    rendered = at.run("logs", "team/m1")
    assert rendered.exit_code == 0 and record in rendered.stdout.splitlines()[0]  # the run's header
    raw = at.run("logs", "team/m1", "--raw")
    assert raw.exit_code == 0 and raw.stdout.count("tick") >= 3
    rotated = at.run("logs", "team/m1", "--rotated", "1")
    assert rotated.exit_code == 1 and "m1.log.1" in rotated.stderr and "does not exist" in rotated.stderr
    tail = at.run("logs", "team/m1", "--tail", "2")
    assert tail.exit_code == 0 and tail.stdout.splitlines() == ["tick", "tick"], tail.stdout + tail.stderr
    assert followed("team/m1", 2) == [{"pane": "team/m1", "line": "tick"}] * 2  # new output, as it comes
    (remote.home / REMOTE_LOGS / "team" / "m1.log").unlink()
    missing = at.run("logs", "team/m1")
    assert missing.exit_code == 1 and "does not exist on ssh:remote" in missing.stderr


def test_a_controller_rotates_a_remote_pane_log_on_that_host_with_its_event(
    env: Env, at: type[AtCli], remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log on the ssh host past its cap is rotated there by the controller (one call
    for the host's logs, every AGENTTOWER_LOG_REMOTE_EVERY), with the same files and
    event as a local log; a CLI verb's pass never does it."""
    from agenttower.reconcile.logs import REMOTE_LOGS
    from tests.integration.test_controller import Controller

    noisy = profile(
        "noisy", ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done; exec sleep 600"]
    )
    doc = layout(
        "team",
        None,
        target={"host": HOST},
        panes=[{"role": "master", "capability": "worker", "labelPattern": "m1"}],
        launch={"master:m1": "noisy"},
    )
    log = remote.home / REMOTE_LOGS / "team" / "m1.log"
    limits = {"AGENTTOWER_LOG_MAX_BYTES": "2000", "AGENTTOWER_LOG_REMOTE_EVERY": "1s"}
    for name, value in limits.items():
        monkeypatch.setenv(name, value)  # the CLI's passes and the controller alike
    apply_ok(at, write(env.desired_dir / "team.yaml", doc, noisy), "--wait")
    eventually(lambda: log.exists() and log.stat().st_size > 2000, 30, "the remote log past its cap")
    apply_ok(at, env.desired_dir / "team.yaml")  # a CLI pass: leaves remote logs to the controller
    assert not log.with_name("m1.log.1").exists()
    audit = env.state_dir / "events.jsonl"

    def rotated() -> list[dict[str, Any]]:
        lines = audit.read_text().splitlines() if audit.exists() else []
        events = [json.loads(line) for line in lines]
        return [e for e in events if e["event_type"] == "managed_pane_log_rotated"]

    ctl = Controller(env, "--resync", "1s").start()
    try:
        (event,) = eventually(rotated, 30, "the remote log rotated by the controller")
    finally:
        ctl.stop()
    assert event["payload"]["path"] == f"~/{REMOTE_LOGS}/team/m1.log"
    assert event["payload"]["bytes"] > 2000 and event["payload"]["kept"] == 1
    assert b"line-399" in log.with_name("m1.log.1").read_bytes()
    text = log.read_text()
    assert "continued after rotation" in text and "line-399" not in text
    shown = at.run("logs", "team/m1", "--rotated", "1")
    assert shown.exit_code == 0 and "line-399" in shown.stdout, shown.output + shown.stderr


def test_a_key_the_host_refuses_is_auth_refused_and_nothing_is_touched(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    (remote.root / "authorized_keys").write_text("")
    path = write(env.root / "team.yaml", on_remote("team", LABELS_2M2S), profile("sleepy", SLEEP))
    result = at.run("apply", "-f", str(path))
    assert "ssh: auth refused" in result.stderr + result.output, result.stderr + result.output
    assert remote.sessions() == {} and len(remote.ssh_calls()) == 1  # not retried
    assert states(at) == {}  # nothing recorded as failed either: the host is unknown, not empty
    doctor = at.run("doctor")
    assert doctor.exit_code == 1 and "BatchMode=yes" in doctor.output


def test_a_host_without_tmux_is_tmux_missing_and_nothing_is_touched(
    env: Env, at: type[AtCli], remote: Remote
) -> None:
    remote.kill()
    remote.config.write_text(
        remote.config.read_text().replace("SetEnv TMUX_TMPDIR", "SetEnv PATH=/nonexistent TMUX_TMPDIR")
    )
    remote.start()
    path = write(env.root / "team.yaml", on_remote("team", LABELS_2M2S), profile("sleepy", SLEEP))
    result = at.run("apply", "-f", str(path))
    assert "ssh: tmux missing" in result.stderr + result.output, result.stderr + result.output
    assert remote.sessions() == {} and states(at) == {}
    doctor = at.run("doctor")
    assert doctor.exit_code == 1 and "install tmux on the host" in doctor.output


def test_a_connection_dropped_during_the_spawn_batch_never_spawns_a_pane_twice(
    env: Env, at: type[AtCli], remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sshd and its connections die while the first spawn batch runs (its probe sleeps
    the probe delay, 300 ms here): whatever that batch managed is unknown to this pass,
    so no pane is failed for it; once sshd is back the next pass finds what the batch
    made by the record ids on the panes and creates only what is missing."""
    path = write(env.root / "team.yaml", on_remote("team", LABELS_2M2S), profile("sleepy", SLEEP))
    monkeypatch.setenv("AT_SSHD_DIES_DURING_BATCH", "1")
    at.run("apply", "-f", str(path))
    assert (remote.root / "dropped").exists()
    assert remote.proc is not None and remote.proc.wait(timeout=10) is not None  # sshd is dead
    remote.proc = None
    assert set(states(at).values()) == {"creating"}, states(at)  # unconfirmed, not failed
    monkeypatch.delenv("AT_SSHD_DIES_DURING_BATCH")
    remote.start()
    apply_ok(at, path, "--wait")
    assert states(at) == dict.fromkeys(EVERY, "ready")
    assert remote.sessions() == {"team": 4}  # never a second pane for a slot
    ids = {v["status"]["id"] for v in panes_json(at).values()}
    tagged = remote.tmux("list-panes", "-a", "-F", "#{@agenttower_pane}").stdout.split()
    assert sorted(tagged) == sorted(ids)


# ---- a container on the remote host -----------------------------------------------------------


def in_remote_container(name: str, bench: Bench, labels: list[str], **spec: Any) -> dict[str, Any]:
    target = {"host": HOST, "container": bench.name, **spec.pop("target", {})}
    return layout(name, "2m+2s", target=target, launch=dict.fromkeys(labels, "sleepy"), **spec)


def test_a_2m2s_layout_converges_in_a_container_on_the_remote_host_and_a_no_op_pass_is_one_round_trip(
    env: Env, at: type[AtCli], remote: Remote, benches: Callable[..., Bench]
) -> None:
    bench = benches(mount=False)
    path = write(
        env.root / "team.yaml", in_remote_container("team", bench, LABELS_2M2S), profile("sleepy", SLEEP)
    )
    apply_ok(at, path, "--wait")
    assert states(at) == dict.fromkeys(EVERY, "ready")
    key = f"ssh:{HOST}/container:{bench.name}"
    assert {v["status"]["target"] for v in panes_json(at).values()} == {key}
    ids = sorted(v["status"]["id"] for v in panes_json(at).values())
    rows = bench.tmux("list-panes", "-a", "-F", "#{session_name}\t#{@agenttower_pane}").stdout.splitlines()
    assert sorted(row.split("\t")[1] for row in rows) == ids and bench.sessions() == {"team": 4}
    assert remote.sessions() == {} and not env.server_running()  # not the ssh host's tmux, not ours
    creation = remote.ssh_calls()
    assert creation and all(f"docker exec -i {bench.name} tmux -u" in call for call in creation), creation
    remote.reset_calls()
    apply_ok(at, path)  # converged: one round trip, the listing inside the container
    again = remote.ssh_calls()
    assert len(again) == 1 and "list-panes" in again[0] and "docker" in again[0], again
    assert remote.log.read_text().count("Accepted publickey") == 1  # one multiplexed master throughout
    deleted = at.run("delete", "layout", "team")
    assert deleted.exit_code == 0, deleted.output + deleted.stderr
    assert bench.sessions() == {}


def test_a_stopped_container_on_the_remote_host_is_a_stopped_container_and_comes_back_when_it_runs(
    env: Env, at: type[AtCli], remote: Remote, benches: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker's answer through ssh is classified as a local container's: a stopped
    container is confidently empty (its panes are gone with it: failed/recovery_reattach),
    nothing is spawned into it, doctor says how to start it, and Always brings the panes
    back once it runs."""
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "200ms")
    bench = benches(mount=False)
    doc = in_remote_container("team", bench, LABELS_2M2S, restartPolicy="Always")
    path = write(env.root / "team.yaml", doc, profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    first = {k: v["status"]["id"] for k, v in panes_json(at).items()}
    bench.stop()
    remote.reset_calls()
    warned = apply_ok(at, path)
    assert "is not running" in warned, warned
    assert {
        k: (v["status"]["state"], v["status"]["failedStage"]) for k, v in panes_json(at).items()
    } == dict.fromkeys(first, ("failed", "recovery_reattach"))
    assert [call for call in remote.ssh_calls() if "source-file" in call] == []  # nothing spawned into it
    doctor = at.run("doctor", "-o", "json")
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    check = checks[f"container on ssh host (ssh:{HOST}/container:{bench.name})"]
    assert check["status"] == "fail" and f"ssh {HOST} docker start {bench.name}" in check["fix"], check
    bench.start()

    def back() -> bool:
        at.run("apply", "-f", str(path), "--wait")
        return set(states(at).values()) == {"ready"}

    eventually(back, what="Always panes back in the remote container")
    assert {k: v["status"]["predecessorId"] for k, v in panes_json(at).items()} == first
    assert bench.sessions() == {"team": 4}
    ok = {c["name"]: c for c in at.json("doctor")["checks"]}  # type: ignore[index]
    assert ok[f"container on ssh host (ssh:{HOST}/container:{bench.name})"]["status"] == "ok"


def test_a_remote_docker_that_does_not_answer_leaves_records_untouched_and_the_next_pass_converges(
    env: Env, at: type[AtCli], remote: Remote, benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host answers, its docker does not (DOCKER_HOST of the login points nowhere):
    indeterminate, as a local engine that is down; then an ssh host that is gone."""
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "200ms")
    bench = benches(mount=False)
    doc = in_remote_container("team", bench, LABELS_2M2S, restartPolicy="Always")
    path = write(env.root / "team.yaml", doc, profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    before = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()}
    gone = panes_json(at)["team/s2"]["status"]["tmuxPaneId"]
    bench.tmux("kill-pane", "-t", gone)  # a replacement is due, once the target can be seen
    remote.kill()
    original = remote.config.read_text()
    remote.config.write_text(
        original.replace("SetEnv ", f"SetEnv DOCKER_HOST=unix://{remote.root}/none.sock ")
    )
    remote.start()
    diff = at.run("diff")
    assert diff.exit_code == 2 and "Cannot connect to the Docker daemon" in diff.stderr, diff.stderr
    at.run("apply", "-f", str(path))
    after = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()}
    assert after == before  # nothing failed, nothing replaced: the container could not be asked
    remote.kill()  # and with the host itself gone: the same
    assert at.run("apply", "-f", str(path)).exit_code in (0, 2)
    assert {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()} == before
    doctor = {c["name"]: c for c in json.loads(at.run("doctor", "-o", "json").stdout)["checks"]}
    assert "sshd listens" in (
        doctor[f"container on ssh host (ssh:{HOST}/container:{bench.name})"]["fix"] or ""
    )
    remote.config.write_text(original)
    remote.start()

    def back() -> bool:  # s2's death is a fact now: marked, then restarted after its back-off
        at.run("apply", "-f", str(path), "--wait")
        return states(at) == dict.fromkeys(EVERY, "ready")

    eventually(back, what="s2 replaced once docker answers")
    assert bench.sessions() == {"team": 4}
    assert panes_json(at)["team/s2"]["status"]["predecessorId"] == before["team/s2"][1]


def test_logs_screen_and_attach_reach_a_pane_in_a_container_on_the_remote_host(
    env: Env, at: type[AtCli], remote: Remote, benches: Callable[..., Bench]
) -> None:
    from agenttower.reconcile.logs import REMOTE_LOGS
    from tests.integration.test_attach import AGENTTOWER

    bench = benches(mount=False)
    tick = profile("tick", ["sh", "-c", "echo screen-test-line; while :; do echo tick; sleep 0.2; done"])
    doc = layout(
        "team",
        None,
        target={"host": HOST, "container": bench.name},
        panes=[{"role": "master", "capability": "worker", "labelPattern": "m1"}],
        launch={"master:m1": "tick"},
    )
    apply_ok(at, write(env.root / "t.yaml", doc, tick), "--wait")
    status = panes_json(at)["team/m1"]["status"]
    assert status["state"] == "ready" and status["logPath"] == f"~/{REMOTE_LOGS}/team/m1.log"
    inside = bench.docker("exec", bench.name, "cat", f"/root/{REMOTE_LOGS}/team/m1.log", check=False)
    assert inside.returncode == 0 and "tick" in inside.stdout  # written in the container, as its user
    eventually(
        lambda: at.run("logs", "team/m1").stdout.count("tick") >= 3, what="ticks through ssh and docker"
    )
    tail = at.run("logs", "team/m1", "--tail", "2")
    assert tail.exit_code == 0 and tail.stdout.splitlines() == ["tick", "tick"], tail.stdout + tail.stderr
    assert followed("team/m1", 2) == [{"pane": "team/m1", "line": "tick"}] * 2
    shown = at.run("screen", "team/m1")
    assert shown.exit_code == 0 and "tick" in shown.stdout, shown.output + shown.stderr
    dry = shlex.split(at.run("attach", "team/m1", "--dry-run").stdout)
    assert (
        "-tt" in dry
        and dry[-2] == HOST
        and shlex.split(dry[-1])
        == [
            "docker",
            "exec",
            "-it",
            bench.name,
            "tmux",
            "-u",
            "attach-session",
            "-t",
            status["tmuxPaneId"],
        ]
    ), dry
    outer = ["-L", "outer"]
    try:
        subprocess.run(
            [
                REAL_TMUX or "tmux",
                *outer,
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                f"{AGENTTOWER} attach team/m1",
            ],
            check=True,
        )

        def clients() -> list[str]:
            out = bench.tmux("list-clients", "-F", "#{client_session} #{pane_id}").stdout
            return out.split("\n")[:-1]

        eventually(
            lambda: clients() == [f"team {status['tmuxPaneId']}"], what="a client in the remote container"
        )
    finally:
        subprocess.run([REAL_TMUX or "tmux", *outer, "kill-server"], check=False, capture_output=True)
    bench.docker("exec", bench.name, "rm", f"/root/{REMOTE_LOGS}/team/m1.log")
    missing = at.run("logs", "team/m1")
    assert missing.exit_code == 1 and f"does not exist on ssh:{HOST}/container:{bench.name}" in missing.stderr


def test_a_killed_agent_in_a_remote_container_is_replaced_by_the_event_not_the_resync(
    env: Env, at: type[AtCli], remote: Remote, benches: Callable[..., Bench]
) -> None:
    """The listener's waiter runs in the container through `ssh … docker exec`."""
    from tests.integration.test_controller import Controller
    from tests.integration.test_events import instance_id

    bench = benches(mount=False)
    doc = in_remote_container("team", bench, LABELS_2M2S, restartPolicy="Always")
    write(env.desired_dir / "team.yaml", doc, profile("sleepy", SLEEP))
    ctl = Controller(env, "--resync", "3600s", "--allow-empty").start(AGENTTOWER_BACKOFF_BASE="0s")
    try:
        eventually(
            lambda: states(at) == dict.fromkeys(EVERY, "ready"), 60, "converged in the remote container"
        )
        owner = instance_id(env)

        def listening() -> bool:
            hooked = "".join(
                bench.tmux("show-hooks", "-g", e).stdout for e in ("pane-died", "after-kill-pane")
            )
            waiting = bench.docker("exec", bench.name, "ps", "-eo", "args", check=False).stdout
            return hooked.count(f"wait-for -S agenttower-{owner}") == 2 and f"agenttower-{owner}" in waiting

        eventually(listening, 30, "hooks in the remote container and the listener's wait there")
        sent = "\n".join(remote.ssh_calls())  # the waiter's script spans lines of the log
        assert f"docker exec -i {bench.name} sh -c" in sent and "agenttower-listen" in sent
        old = panes_json(at)["team/s1"]["status"]
        shown = bench.tmux("display-message", "-p", "-t", old["tmuxPaneId"], "#{pane_pid}").stdout.strip()
        bench.docker("exec", bench.name, "kill", "-9", shown)

        def replaced() -> bool:
            now = panes_json(at).get("team/s1")
            return bool(now and now["status"]["id"] != old["id"] and now["status"]["state"] == "ready")

        eventually(replaced, 30, "s1 replaced in the remote container")
        assert bench.sessions() == {"team": 4}
    finally:
        ctl.stop()


def test_a_missing_container_on_the_remote_host_is_container_not_found_and_nothing_is_written(
    env: Env, at: type[AtCli], remote: Remote, docker_engine: str
) -> None:
    ghost = f"at-test-missing-{os.getpid()}"
    doc = layout("ghost", "1m+2s", target={"host": HOST, "container": ghost})
    result = at.run("apply", "-f", str(write(env.root / "ghost.yaml", doc)), "-o", "json")
    assert result.exit_code == 1, result.output + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "container_not_found" and error["details"]["container_id"] == ghost
    assert f"on {HOST}" in error["message"]
    assert not (env.desired_dir / "ghost.yaml").exists() and states(at) == {}
    calls = remote.ssh_calls()
    assert calls and all("list-panes" in c and "source-file" not in c for c in calls), calls  # observed only
