"""Fault suite, the docker engine itself restarting under a running controller.

The engine is the test's own: a private dockerd with its own socket, data root, exec
root, pidfile, managed containerd and a bridge of its own (not `--bridge none`: a
dockerd without a bridge deletes `docker0`, the machine engine's, as it starts), and no
iptables rules, which the test
stops and starts again without touching the machine's engine (other tests, and other
people, use that one at the same time). The bench image is copied into it from the
machine's engine (`docker save | docker load`), so the test is gated like the other
docker tests: it skips without an engine or the image, and fails instead under
AGENTTOWER_REQUIRE_DOCKER=1 (CI). Starting a dockerd needs root.

agenttower is pointed at the private engine with DOCKER_HOST, as someone whose engine
is not the default one (rootless docker, a second engine) points every docker client
at it: the pass's `docker exec`, the listener's and the test's own all go there, and
the listener's client is the docker CLI itself, with no wrapper script between, so
what dies with the engine is what dies for a user.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import fault_report
from tests.conftest import AtCli, Env, eventually
from tests.integration.test_containers import (
    DOCKER,
    IMAGE,
    LOGS_IN_CONTAINER,
    Bench,
    _unavailable,
    box_controller,
    boxed,
    docker_engine,
    hooked_in_box,
    listener_clients,
    panes_json,
    replaced_in_box,
    waiters_in,
)
from tests.integration.test_events import instance_id
from tests.invariants import tmux_lister, violations
from tests.manifests import SLEEP, profile, write

pytestmark = [pytest.mark.tmux, pytest.mark.usefixtures("fast")]
__all__ = ["box_controller", "docker_engine"]  # fixtures, used by name

LABELS = ("m1", "s1", "s2")


@dataclass
class Engine:
    """A dockerd of the test's own under `root` (kept short: unix socket paths are
    limited to 108 bytes, and containerd's sockets live under the exec root)."""

    dockerd: str
    root: Path
    bridge: str  # made by `own_bridge` before the engine starts
    proc: subprocess.Popen[bytes] | None = None
    live_restore: bool = False  # daemon.json's: containers keep running while it is down

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def argv(self) -> list[str]:
        root = self.root
        return [
            self.dockerd,
            "--host",
            self.host,
            "--data-root",
            str(root / "data"),
            "--exec-root",  # its managed containerd's sockets and state go under here
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
            "--config-file",  # not /etc/docker/daemon.json, which may name hosts of its own
            str(root / "daemon.json"),
            "--bridge",
            self.bridge,
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            # if a system containerd answers at /run/containerd, dockerd uses it instead of
            # starting its own: a namespace of its own keeps these containers apart there
            "--containerd-namespace",
            "agenttower-test",
            "--containerd-plugins-namespace",
            "agenttower-test-plugins",
        ]

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        return subprocess.run(
            [DOCKER, "-H", self.host, *args], capture_output=True, text=True, check=check, timeout=60
        )

    def answers(self) -> bool:
        return self.docker("info", "--format", "{{.ServerVersion}}", check=False).returncode == 0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start it (again: the same arguments, the same dirs) and wait until it answers."""
        assert not self.running()
        (self.root / "daemon.json").write_text(json.dumps({"live-restore": self.live_restore}) + "\n")
        with (self.root / "dockerd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        eventually(
            lambda: not self.running() or self.answers(), timeout=60, what="the private engine to answer"
        )
        if not self.running():
            pytest.fail(f"the private dockerd exited: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, as `systemctl restart docker` sends it; returns once dockerd has exited
        (it stops its containers and its containerd first)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log_tail()

    def configure(self, live_restore: bool) -> None:
        if live_restore != self.live_restore:
            self.stop()
            self.live_restore = live_restore
            self.start()

    def log_tail(self) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:]) if path.exists() else ""

    def close(self) -> None:
        """Everything goes: its containers, the engine, what it left running, its mounts
        (with live-restore it leaves its data root bind-mounted on itself) and dirs."""
        if self.running() and self.answers():
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)
        for pid in self._left_running():  # a dockerd that died hard leaves containerd and shims
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mount in reversed(self._mounts()):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _left_running(self) -> list[int]:
        found = []
        mark = str(self.root).encode()
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if mark in cmdline.read_bytes():
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        return found

    def _mounts(self) -> list[str]:
        points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        return [p for p in points if p == str(self.root) or p.startswith(f"{self.root}/")]


@contextlib.contextmanager
def own_bridge() -> Iterator[str]:
    """A bridge interface for the private engine alone, removed afterwards. dockerd
    started with `--bridge none` removes the default bridge `docker0` by name, which is
    the machine engine's: every container there then fails to start."""
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if ip is None:
        _unavailable("no ip command (iproute2) to make the private engine's bridge")
    assert ip is not None
    name = f"atb{uuid.uuid4().hex[:8]}"
    subnet = f"10.213.{uuid.uuid4().int % 250 + 1}.1/24"
    for argv in (
        ["link", "add", name, "type", "bridge"],
        ["addr", "add", subnet, "dev", name],
        ["link", "set", name, "up"],
    ):
        subprocess.run([ip, *argv], capture_output=True, check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run([ip, "link", "delete", name], capture_output=True, check=False, timeout=30)


@pytest.fixture(scope="module")
def private_engine(docker_engine: str) -> Iterator[Engine]:
    """A private engine holding the bench image, for this module's tests."""
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/sbin")
    if dockerd is None:
        _unavailable("no dockerd binary")
    if os.geteuid() != 0:
        _unavailable("starting a private docker engine needs root")
    assert dockerd is not None
    with own_bridge() as bridge:
        yield from _engine_with_image(docker_engine, dockerd, bridge)


def _engine_with_image(docker_engine: str, dockerd: str, bridge: str) -> Iterator[Engine]:
    engine = Engine(dockerd, Path(tempfile.mkdtemp(prefix="at-dockerd-", dir="/tmp")), bridge)
    try:
        engine.start()
        save = subprocess.Popen([docker_engine, "save", IMAGE], stdout=subprocess.PIPE)
        assert save.stdout is not None
        load = subprocess.run(
            [docker_engine, "-H", engine.host, "load"], stdin=save.stdout, capture_output=True, timeout=300
        )
        save.stdout.close()
        assert save.wait(timeout=60) == 0 and load.returncode == 0, load.stderr.decode(errors="replace")
        yield engine
    finally:
        engine.close()


@pytest.fixture
def restartable(
    private_engine: Engine, live_restore: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bench]:
    """A bench container of the private engine with `--restart unless-stopped` (what
    brings a container back after an engine restart without anyone starting it), and
    every docker client of this test pointed at that engine."""
    private_engine.configure(live_restore)
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    name = f"at-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    logs = tmp_path / f"logs-{name}"
    logs.mkdir()
    private_engine.docker(
        "run", "-d", "--name", name, "--label", "agenttower.dev/test=1", "--restart", "unless-stopped",
        # PID 1 is `sleep infinity`, which ignores SIGTERM: the engine's shutdown would
        # wait the default 10 s for it
        "--stop-timeout", "1",
        "-v", f"{logs}:{LOGS_IN_CONTAINER}", IMAGE,
    )  # fmt: skip
    try:
        yield Bench(name, logs)
    finally:
        if not private_engine.running():  # the test failed while the engine was down
            private_engine.start()
        private_engine.docker("rm", "-f", name, check=False)


def pass_lines(log: str, after: int) -> list[str]:
    return [line for line in log.splitlines()[after:] if "reconcile" in line and "actions=" in line]


@pytest.mark.parametrize("live_restore", [False, True], ids=["restart-policy", "live-restore"])
def test_fr022_the_engine_restarting_leaves_records_alone_then_listener_and_panes_come_back(
    env: Env,
    at: type[AtCli],
    private_engine: Engine,
    restartable: Bench,
    box_controller: Callable[..., Any],
    live_restore: bool,
) -> None:
    """While the engine is down the target is indeterminate: the listener's `docker
    exec` dies with it, the pass that wakes finds the engine not answering, and no
    record changes. Once the engine answers again the controller looks at the target
    by itself (`--resync 3600s`: no resync explains it) and listens there again, and a
    pane killed afterwards comes back on its event.

    - restart-policy (the default engine): the shutdown stopped the container, and the
      engine started it again by its policy, with no tmux server: every slot comes
      back as a new record, the hooks go into the new server, one waiter there.
    - live-restore: the container, its tmux server and its panes ran on: the same
      records stay `ready`, the hooks are still there, and the waiter whose client
      died with the engine ran on too, beside the new one, until that next event."""
    bench = restartable
    write(env.desired_dir / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    ctl = box_controller("3600s")

    def slots() -> dict[str, tuple[str, str]]:
        return {k.split("/")[1]: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at).items()}

    def ready(older: frozenset[str] = frozenset()) -> dict[str, str] | None:
        live = {
            label: id_ for label, (state, id_) in slots().items() if state == "ready" and id_ not in older
        }
        return live if set(live) == set(LABELS) else None

    def listening(waiters: int = 1) -> bool:
        return (
            hooked_in_box(bench, owner)
            and len(listener_clients(bench)) == 1
            and waiters_in(bench, owner) == waiters
        )

    first = eventually(ready, 60, "box ready")
    owner = instance_id(env)
    eventually(listening, what="hooks installed and one waiter")
    mark = len(ctl.text().splitlines())

    private_engine.stop()
    eventually(lambda: not listener_clients(bench), what="the listener's docker exec gone with the engine")
    unreachable = f"target container:{bench.name} unreachable"
    eventually(
        lambda: any(unreachable in line for line in pass_lines(ctl.text(), mark)),
        30,
        "a pass that found the engine down",
    )
    during = pass_lines(ctl.text(), mark)
    problems = []
    if slots() != {label: ("ready", id_) for label, id_ in first.items()}:
        problems.append(f"records changed while the engine was down: {slots()}")
    if any("actions=[]" not in line for line in during):
        problems.append(f"a pass acted while the engine was down: {during}")
    fault_report.tried("faults", not problems)
    assert not problems, "\n".join(problems) + ctl.text()[-3000:]

    private_engine.start()
    running = ["inspect", "-f", "{{.State.Running}}", bench.name]
    eventually(lambda: bench.docker(*running).stdout.strip() == "true", 30, "the container running again")
    if live_restore:
        eventually(lambda: listening(waiters=2), 30, "a new waiter beside the one the dead client left")
        assert slots() == {label: ("ready", id_) for label, id_ in first.items()}
        assert bench.sessions() == {"box": 3}
    else:
        back = eventually(
            lambda: ready(frozenset(first.values())), 60, "every slot back in the restarted container"
        )
        eventually(listening, 30, "hooks in the new server and one waiter again")
        assert {label: id_ for label, (_, id_) in slots().items()} == back
    eventually(lambda: "actions=[]" in pass_lines(ctl.text(), mark)[-1], what="a quiet pass")

    victim = panes_json(at)["box/m1"]["status"]
    bench.tmux("kill-pane", "-t", victim["tmuxPaneId"])
    eventually(replaced_in_box(at, "box/m1", victim["id"]), 30, "m1 recreated on the new waiter's event")
    eventually(listening, what="one waiter")
    listers = {"host": tmux_lister(env.tmux), f"container:{bench.name}": tmux_lister(bench.tmux)}
    found = violations(env.state_dir, listers)
    fault_report.tried("faults", not found)
    assert found == [], found
    assert ctl.proc is not None and ctl.proc.poll() is None
