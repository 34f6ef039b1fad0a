"""Layouts inside docker containers, against a real engine and throw-away bench containers.

Each test starts its own containers from the bench image (`deploy/bench-image/`), with
unique names and a bind mount for pane logs under the test's tmp dir, and removes them
at teardown. Without an engine or the image these tests skip and say why; `.ci/run`
runs `.ci/docker-setup.sh` first and sets AGENTTOWER_REQUIRE_DOCKER=1, so in CI they
fail instead of skipping. docker execs are counted (and timed) through a logging
wrapper named by AGENTTOWER_DOCKER.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env, eventually, followed
from tests.manifests import SLEEP, layout, pane, profile, template, write

pytestmark = pytest.mark.tmux

DOCKER = shutil.which("docker")
IMAGE = os.environ.get("AGENTTOWER_BENCH_IMAGE", "agenttower-bench:test")
LOGS_IN_CONTAINER = "/agenttower-logs"
TICK = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]
LABELS = {
    "1m+2s": ["master:m1", "slave:s1", "slave:s2"],
    "2m+2s": ["master:m1", "master:m2", "slave:s1", "slave:s2"],
}


# ---- the engine and the containers ------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("AGENTTOWER_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (AGENTTOWER_REQUIRE_DOCKER=1: run .ci/docker-setup.sh)")
    pytest.skip(f"{reason}: run .ci/docker-setup.sh to install docker.io, start dockerd and build {IMAGE}")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The docker CLI, once the engine answers and the bench image exists."""
    if DOCKER is None:
        _unavailable("no docker CLI on PATH")
    assert DOCKER is not None
    info = subprocess.run(
        [DOCKER, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, check=False
    )
    if info.returncode != 0:
        _unavailable(f"the docker engine does not answer ({info.stderr.strip()[:200]})")
    image = subprocess.run([DOCKER, "image", "inspect", IMAGE], capture_output=True, text=True, check=False)
    if image.returncode != 0:
        _unavailable(f"the bench image {IMAGE} does not exist")
    return DOCKER


@dataclass
class Bench:
    """One throw-away container; `logs` is the host side of its log bind mount."""

    name: str
    logs: Path

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check, timeout=60)

    def tmux(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """tmux inside the container, not counted by the docker wrapper."""
        as_user = ["-u", user] if user else []
        return self.docker("exec", *as_user, self.name, "tmux", "-u", *args, check=False)

    def sessions(self, user: str | None = None) -> dict[str, int]:
        out = self.tmux("list-panes", "-a", "-F", "#{session_name}", user=user)
        found: dict[str, int] = {}
        for line in out.stdout.splitlines():
            found[line] = found.get(line, 0) + 1
        return found

    def stop(self) -> None:
        self.docker("stop", "-t", "0", self.name)  # PID 1 is `sleep infinity`: SIGTERM would wait

    def start(self) -> None:
        self.docker("start", self.name)

    def target(self, mount: bool = True, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"container": self.name, **extra}
        if mount:
            spec["logMount"] = {"containerPath": LOGS_IN_CONTAINER, "hostPath": str(self.logs)}
        return spec


@pytest.fixture
def benches(docker_engine: str, tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    made: list[str] = []

    def make(mount: bool = True, read_only: Mapping[Path, str] | None = None) -> Bench:
        """`read_only`: host paths bind-mounted read-only at these container paths."""
        name = f"at-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        logs = tmp_path / f"logs-{name}"
        logs.mkdir()
        argv = [docker_engine, "run", "-d", "--name", name, "--label", "agenttower.dev/test=1"]
        if mount:
            argv += ["-v", f"{logs}:{LOGS_IN_CONTAINER}"]
        for host, inside in (read_only or {}).items():
            argv += ["-v", f"{host}:{inside}:ro"]
        made.append(name)
        subprocess.run([*argv, IMAGE], capture_output=True, text=True, check=True, timeout=60)
        return Bench(name, logs)

    try:
        yield make
    finally:
        if made:
            subprocess.run([docker_engine, "rm", "-f", *made], capture_output=True, check=False, timeout=60)


@dataclass
class Exec:
    """One `docker exec` (or other docker call) agenttower made: argv and wall interval."""

    args: str
    start: float
    end: float

    @property
    def container(self) -> str:
        words = self.args.split()
        i = 1
        while i < len(words) and words[i].startswith("-"):
            i += 2 if words[i] == "-u" else 1
        return words[i] if i < len(words) else ""

    @property
    def mutation(self) -> bool:
        return "source-file" in self.args


class DockerLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def calls(self) -> list[Exec]:
        if not self.path.exists():
            return []
        starts: dict[str, tuple[float, str]] = {}
        done: list[Exec] = []
        for line in self.path.read_text().splitlines():
            kind, pid, stamp, *rest = line.split(" ", 3)
            if kind == "S":
                starts[pid] = (float(stamp), rest[0] if rest else "")
            elif pid in starts:
                begun, args = starts.pop(pid)
                done.append(Exec(args, begun, float(stamp)))
        done += [Exec(args, begun, float("inf")) for begun, args in starts.values()]
        return sorted(done, key=lambda e: e.start)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def docker_log(docker_engine: str, env: Env, monkeypatch: pytest.MonkeyPatch) -> DockerLog:
    """AGENTTOWER_DOCKER = a wrapper that logs each call's start, end and argv."""
    log = env.root / "docker-calls.log"
    wrapper = env.root / "docker-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "S %s %s %s\\n" "$$" "$(date +%s.%N)" "$*" >> {shlex.quote(str(log))}\n'
        f'{shlex.quote(docker_engine)} "$@"\n'
        "rc=$?\n"
        f'printf "E %s %s\\n" "$$" "$(date +%s.%N)" >> {shlex.quote(str(log))}\n'
        'exit "$rc"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("AGENTTOWER_DOCKER", str(wrapper))
    return DockerLog(log)


# ---- manifests and views ------------------------------------------------------------------


def boxed(name: str, bench: Bench, tpl: str = "1m+2s", mount: bool = True, **spec: Any) -> dict[str, Any]:
    """A layout in `bench` whose every pane runs a long sleep."""
    target = spec.pop("target", None) or bench.target(mount)
    return layout(name, tpl, target=target, launch=dict.fromkeys(LABELS[tpl], "sleepy"), **spec)


def inline(name: str, bench: Bench, count: int, **spec: Any) -> dict[str, Any]:
    panes = [pane("slave", "s{ordinal}", "sleepy") for _ in range(count)]
    return layout(name, None, panes=panes, target=bench.target(), **spec)


def panes_json(at: type[AtCli], *names: str) -> dict[str, dict[str, Any]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict)
    items = {i["metadata"]["name"]: i for i in data["items"]}
    return {k: v for k, v in items.items() if not names or k.split("/")[0] in names}


def states(at: type[AtCli], *names: str) -> dict[str, tuple[str, str | None]]:
    return {k: (v["status"]["state"], v["status"]["failedStage"]) for k, v in panes_json(at, *names).items()}


def apply_ok(at: type[AtCli], path: Path, *extra: str) -> str:
    result = at.run("apply", "-f", str(path), *extra)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stderr


# ---- pure parts: keys, argv, classification (no engine needed) ----------------------------


def test_container_target_argv_and_record_keys() -> None:
    from agenttower.model.resolved import Target
    from agenttower.runtime.target import ExecTarget

    target = Target(
        container="bench", user="1000:1000", socket="at", log_container_path="/l", log_host_path="/h"
    )
    argv = ExecTarget(target, docker="podman").argv("list-panes", "-a")
    assert argv == [
        "podman",
        "exec",
        "-i",
        "-u",
        "1000:1000",
        "bench",
        "tmux",
        "-u",
        "-L",
        "at",
        "list-panes",
        "-a",
    ]
    assert ExecTarget(Target(socket_path="/s"), "tmux").argv("ls") == ["tmux", "-u", "-S", "/s", "ls"]
    assert Target.of_key("container:bench") == Target(container="bench")
    assert Target.of_key("host:/tmp/x") == Target(socket_path="/tmp/x")
    assert Target.of_key("host:at") == Target(socket="at")
    resolved = {"target": {**target.__dict__}}
    assert Target.of_record("container:bench", resolved) == target  # user, socket and logMount back
    assert Target.of_record("container:bench", None) == Target(container="bench")
    assert Target.of_record("container:other", resolved) == Target(container="other")  # key wins


@pytest.mark.parametrize(
    ("stderr", "status", "unavailable"),
    [
        ("Error response from daemon: No such container: bench", "empty", "container_missing"),
        ("Error response from daemon: Container 3f2a is not running", "empty", "container_stopped"),
        (
            'Error: no container with name or ID "bench" found: no such container',
            "empty",
            "container_missing",
        ),
        (
            "Error: can only create exec sessions on running containers: container state improper",
            "empty",
            "container_stopped",
        ),
        (
            "Error response from daemon: Container bench is paused, unpause the container before exec",
            "indeterminate",
            None,
        ),
        ("unable to find user ghost: no matching entries in passwd file", "indeterminate", None),
        (
            'OCI runtime exec failed: exec: "tmux": executable file not found in $PATH: unknown',
            "indeterminate",
            None,
        ),
        (
            "crun: executable file `tmux` not found in $PATH: No such file or directory: "
            "OCI runtime attempted to invoke a command that was not found",
            "indeterminate",
            None,
        ),
        ("error connecting to /tmp/tmux-0/default (No such file or directory)", "empty", None),
        ("no server running on /tmp/tmux-1000/default", "empty", None),
    ],
)
def test_docker_failures_are_classified_from_stderr(
    stderr: str, status: str, unavailable: str | None
) -> None:
    from agenttower.runtime.observe import classify_failure

    listing = classify_failure("container:bench", stderr, container=True)
    assert (listing.status, listing.unavailable) == (status, unavailable)
    assert listing.can_create == (status == "empty" and unavailable is None)


def test_a_docker_daemon_that_is_down_is_transient_and_indeterminate() -> None:
    from agenttower.runtime.observe import classify_failure

    down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    listing = classify_failure("container:bench", down, container=True)
    assert listing.status == "indeterminate" and listing.transient and not listing.known
    # the same words from a host tmux never count as a container fact
    assert classify_failure("host", "Container x is not running", container=False).status == "indeterminate"


# ---- against the engine -------------------------------------------------------------------


def test_fr004_a_1m2s_layout_in_a_container_converges_to_three_ready_panes(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    path = write(env.root / "box.yaml", boxed("box", bench), profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    items = panes_json(at)
    assert sorted(items) == ["box/m1", "box/s1", "box/s2"]
    assert {i["status"]["state"] for i in items.values()} == {"ready"}
    assert {i["status"]["target"] for i in items.values()} == {f"container:{bench.name}"}
    inside = bench.tmux(
        "list-panes", "-a", "-F", "#{session_name} #{pane_id} #{@agenttower_pane} #{pane_title}"
    )
    rows = {line.split()[1]: line.split() for line in inside.stdout.splitlines()}
    for item in items.values():
        session, _, record, title = rows[item["status"]["tmuxPaneId"]]
        assert (session, record, title) == ("box", item["status"]["id"], item["spec"]["label"])
    for item in items.values():  # logs land on the host side of the mount
        log = Path(item["status"]["logPath"])
        assert log.parent == bench.logs / "box" and log.exists()
    assert env.tmux_calls() == [] and not env.server_running()  # the host's tmux was never asked


def test_fr004_a_2m2s_layout_converges_in_a_container_whose_image_sets_no_locale(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    """debian:bookworm as shipped sets no LANG, and `docker exec` passes none of ours: a
    tmux client there printed the listing's tabs as `_`, so every pane was failed as
    `pane_create` while tmux had created it, and `Always` re-spawned them without end."""
    bench = benches()
    inside = bench.docker("exec", bench.name, "env").stdout.splitlines()
    assert not [v for v in inside if v.startswith(("LANG=", "LANGUAGE=", "LC_"))], inside
    plain = boxed("plain", bench, "2m+2s", restartPolicy="Always")
    path = write(env.root / "plain.yaml", plain, profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    assert states(at, "plain") == {f"plain/{label}": ("ready", None) for label in ("m1", "m2", "s1", "s2")}
    ids = sorted(i["status"]["id"] for i in panes_json(at, "plain").values())
    rows = bench.tmux("list-panes", "-a", "-F", "#{session_name}\t#{@agenttower_pane}").stdout.splitlines()
    assert sorted(row.split("\t")[1] for row in rows) == ids  # one tmux pane per record, in session ...
    assert bench.sessions() == {"plain": 4}  # ... plain, and nothing else
    assert "layout/plain unchanged" in at.run("apply", "-f", str(path)).stdout  # a pass finds them all
    assert bench.sessions() == {"plain": 4}
    deleted = at.run("delete", "layout", "plain")
    assert deleted.exit_code == 0, deleted.output + deleted.stderr
    assert bench.sessions() == {}  # delete killed every pane it made


def test_fr007_a_stopped_container_fails_its_panes_and_always_panes_come_back_when_it_runs(
    env: Env,
    at: type[AtCli],
    benches: Callable[..., Bench],
    docker_log: DockerLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "200ms")
    bench = benches()
    path = write(env.root / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    first = {k: v["status"]["id"] for k, v in panes_json(at).items()}

    bench.stop()
    docker_log.reset()
    warned = apply_ok(at, path)  # a pass: the stopped container is confidently empty
    assert "is not running" in warned
    assert states(at) == dict.fromkeys(first, ("failed", "recovery_reattach"))
    assert not [c for c in docker_log.calls() if c.mutation]  # nothing is spawned into a stopped container
    events = [json.loads(line) for line in (env.state_dir / "events.jsonl").read_text().splitlines()]
    assert len([e for e in events if e["event_type"] == "managed_layout_recovery_failed"]) == 3
    # after the back-off, the restarts wait for the container (diff: nothing to do, a note)
    eventually(
        lambda: "is not running" in at.run("diff").stdout, what="restarts held for the stopped container"
    )

    bench.start()

    def back() -> bool:
        at.run("apply", "-f", str(path), "--wait")
        return set(states(at).values()) == {("ready", None)}

    eventually(back, what="Always panes to come back")
    items = panes_json(at)
    assert {k: v["status"]["predecessorId"] for k, v in items.items()} == first
    assert {v["status"]["chainDepth"] for v in items.values()} == {1}
    assert bench.sessions() == {"box": 3}


def test_fr016_fr019_same_session_in_two_containers_converge_in_parallel_serialized_per_container(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], docker_log: DockerLog
) -> None:
    alpha, beta = benches(), benches()
    path = write(
        env.root / "two.yaml",
        boxed("alpha", alpha, session="team"),
        boxed("beta", beta, session="team"),
        profile("sleepy", SLEEP),
    )
    apply_ok(at, path, "--wait")
    assert set(states(at).values()) == {("ready", None)} and len(states(at)) == 6
    assert alpha.sessions() == {"team": 3} and beta.sessions() == {"team": 3}
    calls = docker_log.calls()
    per = {name: [c for c in calls if c.container == name] for name in (alpha.name, beta.name)}
    for name, execs in per.items():  # FR-019: one container's execs never overlap each other
        assert execs, name
        for before, after in itertools.pairwise(execs):
            assert before.end <= after.start, (name, before, after)
    windows = {name: (execs[1].start, execs[-1].end) for name, execs in per.items()}  # after the observe
    (a0, a1), (b0, b1) = windows.values()
    assert max(a0, b0) < min(a1, b1), windows  # the two containers' creations ran at the same time


def test_a_missing_container_is_container_not_found_and_nothing_is_written(
    env: Env, at: type[AtCli], docker_log: DockerLog
) -> None:
    ghost = f"at-test-missing-{uuid.uuid4().hex[:8]}"
    doc = layout("ghost", "1m+2s", target={"container": ghost})
    path = write(env.root / "ghost.yaml", doc)
    result = at.run("apply", "-f", str(path), "-o", "json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "container_not_found" and error["details"]["container_id"] == ghost
    assert "container_not_found" in at.run("apply", "-f", str(path), "--wait").stderr
    assert not (env.desired_dir / "ghost.yaml").exists()
    database = env.state_dir / "agenttower.sqlite3"
    if database.exists():
        conn = sqlite3.connect(database)
        try:
            assert conn.execute("SELECT count(*) FROM layouts").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        finally:
            conn.close()
    calls = docker_log.calls()
    assert len(calls) == 2 and all("list-panes" in c.args and not c.mutation for c in calls)  # observed only
    assert not (env.state_dir / "events.jsonl").exists()


def test_fr013_a_container_pane_without_host_readable_log_is_degraded_log_attach(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    unmounted = env.root / "not-mounted"
    unmounted.mkdir()
    solo = [pane("master", "m1", "sleepy")]
    path = write(
        env.root / "logs.yaml",
        layout("nolog", None, panes=solo, target=bench.target(mount=False)),
        layout(
            "fake",
            None,
            panes=solo,
            target={
                "container": bench.name,
                "logMount": {"containerPath": "/nowhere", "hostPath": str(unmounted)},
            },
        ),
        profile("sleepy", SLEEP),
    )
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 3, result.output + result.stderr
    items = panes_json(at)
    assert states(at) == {"nolog/m1": ("degraded", "log_attach"), "fake/m1": ("degraded", "log_attach")}
    assert "spec.target.logMount" in items["nolog/m1"]["status"]["reason"]
    assert items["nolog/m1"]["status"]["logPath"] is None
    assert "did not appear on the host" in items["fake/m1"]["status"]["reason"]
    assert bench.sessions() == {"nolog": 1, "fake": 1}  # the agents still run
    events = (env.state_dir / "events.jsonl").read_text()
    assert events.count("managed_pane_log_attach_failed") == 2
    no_log = at.run("logs", "nolog/m1")
    assert no_log.exit_code == 1 and "has no log" in no_log.stderr and "logMount" in no_log.stderr


@pytest.mark.parametrize("count", [1, 2, 6])
def test_observing_a_container_is_one_exec_and_creation_a_constant_number(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], docker_log: DockerLog, count: int
) -> None:
    bench = benches()
    path = write(env.root / "n.yaml", inline("n", bench, count), profile("sleepy", SLEEP))
    apply_ok(at, path)
    calls = docker_log.calls()
    assert len([p for p in panes_json(at).values() if p["status"]["state"] == "ready"]) == count
    assert all(c.args.startswith("exec -i ") for c in calls)
    # observe; one batch that spawns every pane and probes them; settle: 3 whatever the count
    assert len(calls) == 3, [c.args[:60] for c in calls]
    assert len([c for c in calls if c.mutation]) == 2
    docker_log.reset()
    apply_ok(at, path)  # converged: one exec, a listing
    again = docker_log.calls()
    assert len(again) == 1 and "list-panes" in again[0].args


def test_a_docker_daemon_that_is_down_leaves_container_records_and_host_layouts_carry_on(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = benches()
    write(env.root / "box.yaml", boxed("box", bench), profile("sleepy", SLEEP))
    apply_ok(at, env.root / "box.yaml", "--wait")
    before = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at, "box").items()}
    monkeypatch.setenv("DOCKER_HOST", f"unix://{env.root}/no-docker.sock")  # the engine is "down"
    local = write(env.root / "local.yaml", layout("local", launch=dict.fromkeys(LABELS["1m+2s"], "sleepy")))
    apply_ok(at, local, "--wait")
    assert states(at, "local") == dict.fromkeys(["local/m1", "local/s1", "local/s2"], ("ready", None))
    after = {k: (v["status"]["state"], v["status"]["id"]) for k, v in panes_json(at, "box").items()}
    assert after == before  # indeterminate: the container's records stay as they are
    diff = at.run("diff")
    assert diff.exit_code == 2 and "Cannot connect to the Docker daemon" in diff.stderr
    monkeypatch.delenv("DOCKER_HOST")
    assert at.run("diff").exit_code == 0  # back: nothing to do, the panes never went away


def test_logs_reads_host_and_container_panes_alike_and_follows(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    ticks = dict.fromkeys(["master:m1"], "tick")
    path = write(
        env.root / "logs.yaml",
        layout("here", None, panes=[pane("master", "m1")], launch=ticks),
        layout("there", None, panes=[pane("master", "m1")], launch=ticks, target=bench.target()),
        profile("tick", TICK),
    )
    apply_ok(at, path, "--wait")
    for name in ("here/m1", "there/m1"):
        eventually(lambda n=name: at.run("logs", n).stdout.count("tick") >= 3, what=f"{name} ticks")
        tail = at.run("logs", name, "--tail", "2")
        assert tail.exit_code == 0 and tail.stdout.splitlines() == ["tick", "tick"], tail.stdout
    assert panes_json(at)["there/m1"]["status"]["logPath"].startswith(str(bench.logs))
    assert followed("there/m1", 2) == [{"pane": "there/m1", "line": "tick"}] * 2  # new output, as it comes


PAD = "of a burst long enough to pass the cap"


def test_a_container_panes_log_has_its_run_header_rotates_and_starts_fresh_when_recreated(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTOWER_LOG_MAX_BYTES", "3000")
    monkeypatch.setenv("AGENTTOWER_LOG_KEEP", "1")
    bench = benches()
    # one burst of 60 lines (~4 kB) per word typed into the pane
    bursts = ["sh", "-c", f'while read w; do for i in $(seq 1 60); do echo "$w line $i {PAD}"; done; done']
    one = layout("boxlog", None, panes=[pane("master", "m1")], launch={"master:m1": "bursts"})
    one["spec"]["target"] = bench.target()
    path = write(env.root / "boxlog.yaml", one, profile("bursts", bursts))

    def burst(word: str) -> None:
        status = panes_json(at)["boxlog/m1"]["status"]
        bench.tmux("send-keys", "-t", status["tmuxPaneId"], word, "Enter")
        eventually(lambda: f"{word} line 60 {PAD}".encode() in log.read_bytes(), what=f"the {word} burst")

    apply_ok(at, path, "--wait")
    old = panes_json(at)["boxlog/m1"]["status"]
    log = Path(old["logPath"])
    assert log.parent == bench.logs / "boxlog"
    burst("first")
    text = at.run("logs", "boxlog/m1").stdout.splitlines()  # the pipe wrote the header in the container
    assert text[0].startswith(f"=== run of pane {old['id']}, started ")
    assert text[-60:] == [f"first line {i} {PAD}" for i in range(1, 61)]
    burst("again")
    apply_ok(at, path)  # a pass: the log is past its cap, rotated on the host side of the mount
    assert log.stat().st_size < 3000
    shown = at.run("logs", "boxlog/m1", "--rotated", "1")
    assert shown.exit_code == 0, shown.output + shown.stderr
    previous = shown.stdout.splitlines()
    assert previous[0].startswith(f"=== run of pane {old['id']},") and previous[-1] == f"again line 60 {PAD}"
    assert at.run("delete", "layout", "boxlog").exit_code == 0
    apply_ok(at, path, "--wait")
    burst("second")
    assert b"first line" not in log.read_bytes()  # not appended to its predecessor's file
    names = sorted(p.name for p in log.parent.iterdir() if p.name != "m1.log")
    assert len(names) == 2 and names[1] == names[0] + ".1"  # the old layout's two files, set aside
    assert names[0].startswith("m1.lay_") and names[0].endswith(".log")
    theirs = at.run("logs", old["id"], "--rotated", "1").stdout  # the old record follows its files
    assert f"again line 60 {PAD}" in theirs and "second" not in theirs


def test_spec_target_user_runs_the_containers_tmux_as_that_user(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    bench.logs.chmod(0o777)  # the pipe creates <layout>/ as uid 1000
    target = bench.target(user="1000:1000")
    path = write(env.root / "u.yaml", boxed("u", bench, target=target), profile("sleepy", SLEEP))
    apply_ok(at, path, "--wait")
    assert set(states(at).values()) == {("ready", None)}
    assert bench.sessions(user="1000:1000") == {"u": 3}
    assert bench.sessions() == {}  # root's default server was never started
    assert {(bench.logs / "u" / f"{label}.log").stat().st_uid for label in ("m1", "s1", "s2")} == {1000}
    # the record keeps the user: a pass with the manifest gone still reaches that server
    (env.desired_dir / "u.yaml").unlink()
    assert at.run("delete", "layout", "u").exit_code == 0
    assert bench.sessions(user="1000:1000") == {}


def test_doctor_checks_each_container_and_says_what_to_do(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    ghost = f"at-test-missing-{uuid.uuid4().hex[:8]}"
    write(env.desired_dir / "box.yaml", boxed("box", bench), profile("sleepy", SLEEP))
    ok = at.run("doctor")
    assert ok.exit_code == 0, ok.stdout
    checks = {c["name"]: c for c in at.json("doctor")["checks"]}
    assert checks[f"container {bench.name}"]["status"] == "ok"
    assert checks[f"tmux in {bench.name}"]["detail"].startswith("tmux 3")
    assert checks[f"logMount of {bench.name}"]["status"] == "ok"
    write(env.desired_dir / "ghost.yaml", layout("ghost", target={"container": ghost}))
    bench.stop()
    bad = at.run("doctor", "-o", "json")
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert checks[f"container {bench.name}"]["status"] == "fail"
    assert f"docker start {bench.name}" in checks[f"container {bench.name}"]["fix"]
    assert checks[f"container {ghost}"]["detail"] == "does not exist"
    assert "docker run" in checks[f"container {ghost}"]["fix"]


def test_doctor_on_a_fresh_host_is_fine_and_names_a_broken_socket(env: Env, at: type[AtCli]) -> None:
    fresh = at.run("doctor")
    assert fresh.exit_code == 0, fresh.stdout
    checks = {c["name"]: c for c in at.json("doctor")["checks"]}
    assert checks["tmux server (host)"]["detail"].startswith("not started yet")
    assert checks["docker"]["detail"].startswith("not needed")
    assert not env.server_running()  # doctor starts nothing
    write(env.desired_dir / "t.yaml", template("mine", [pane("master", "m1")]))
    env.state_dir.mkdir(parents=True, exist_ok=True)
    (env.state_dir / "agenttowerd.sock").write_text("")  # not a socket
    broken = at.run("doctor")
    assert broken.exit_code == 1
    assert "is not a socket" in broken.stdout and "fix: rm " in broken.stdout


def test_layouts_of_one_container_must_share_its_tmux_server(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    solo = [pane("master", "m1", "sleepy")]
    first = write(
        env.root / "a.yaml", layout("a", None, panes=solo, target=bench.target()), profile("sleepy", SLEEP)
    )
    apply_ok(at, first, "--wait")
    other = layout("b", None, panes=solo, target=bench.target(user="1000"))
    result = at.run("apply", "-f", str(write(env.root / "b.yaml", other)))
    assert result.exit_code == 1 and "one tmux server per container" in result.stderr
    assert not (env.desired_dir / "b.yaml").exists()
    assert states(at) == {"a/m1": ("ready", None)} and bench.sessions() == {"a": 1}
    # a's own user changes: its pane is watched where it runs (not failed as vanished) until moved
    moved = layout("a", None, panes=solo, target=bench.target(user="1000"))
    apply_ok(at, write(first, moved, profile("sleepy", SLEEP)))
    assert states(at) == {"a/m1": ("ready", None)} and bench.sessions() == {"a": 1}
    assert "user or socket changed: delete and apply to move it" in at.run("diff").stdout


# ---- the controller's listener in a container ---------------------------------------------


def waiters_in(bench: Bench, owner: str) -> int:
    """`tmux wait-for` clients blocked on our channel inside the container."""
    rows = bench.docker("exec", bench.name, "ps", "-eo", "args", check=False).stdout.splitlines()
    return len([row for row in rows if row.startswith("tmux") and f"wait-for agenttower-{owner}" in row])


def hooked_in_box(bench: Bench, owner: str) -> bool:
    shown = (
        bench.tmux("show-hooks", "-g", "pane-died").stdout
        + bench.tmux("show-hooks", "-g", "after-kill-pane").stdout
    )
    return shown.count(f"wait-for -S agenttower-{owner}") == 2


def listener_clients(bench: Bench) -> list[int]:
    """Host pids of the controller's `docker exec` clients that hold a waiter for `bench`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"docker") and bench.name.encode() in argv and b"agenttower-listen" in argv:
            found.append(int(cmdline.parent.name))
    return found


def kill_agent_in(bench: Bench, pane_id: str) -> None:
    pid = bench.tmux("display-message", "-p", "-t", pane_id, "#{pane_pid}").stdout.strip()
    bench.docker("exec", bench.name, "kill", "-9", pid)


@pytest.fixture
def box_controller(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    from tests.integration.test_controller import Controller

    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "0s")  # restart at once: no requeue deadline
    started: list[Controller] = []

    def start(resync: str) -> Controller:
        ctl = Controller(env, "--resync", resync, "--allow-empty").start(AGENTTOWER_BACKOFF_BASE="0s")
        started.append(ctl)
        return ctl

    try:
        yield start
    finally:
        for ctl in started:
            if ctl.proc is not None and ctl.proc.poll() is None:
                ctl.stop()


def replaced_in_box(at: type[AtCli], name: str, old: str) -> Callable[[], bool]:
    def check() -> bool:
        now = panes_json(at).get(name)
        return bool(now and now["status"]["id"] != old and now["status"]["state"] == "ready")

    return check


def test_fr022_a_container_stopped_and_started_comes_back_with_the_resync_and_its_listener(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], box_controller: Callable[..., Any]
) -> None:
    """The stop kills the waiter with everything in the container (the listener's wait
    fails: an event); the start is seen by the next pass that looks (the re-look at a
    target no listener hears, or the resync), which brings the Always panes
    back on a new server; the hooks go into that server and a waiter blocks there
    again, which hears the next death."""
    from tests.integration.test_events import instance_id

    bench = benches()
    write(env.desired_dir / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    box_controller("3s")
    everything = {f"box/{label}" for label in ("m1", "s1", "s2")}
    eventually(lambda: set(states(at)) == everything and set(states(at).values()) == {("ready", None)}, 60)
    owner = instance_id(env)
    eventually(lambda: hooked_in_box(bench, owner) and waiters_in(bench, owner) == 1, what="listening")
    first = {v["status"]["id"] for v in panes_json(at).values()}

    bench.stop()
    eventually(
        lambda: {s for s, _ in states(at).values()} == {"failed"}, 30, "panes failed with the container"
    )
    bench.start()

    def back() -> bool:
        items = panes_json(at)
        fresh = {v["status"]["id"] for v in items.values()} - first
        return len(fresh) == 3 and {v["status"]["state"] for v in items.values()} == {"ready"}

    eventually(back, 60, "every slot back in the restarted container")
    eventually(lambda: hooked_in_box(bench, owner) and waiters_in(bench, owner) == 1, what="listening again")
    old = panes_json(at)["box/s1"]["status"]
    kill_agent_in(bench, old["tmuxPaneId"])
    eventually(replaced_in_box(at, "box/s1", old["id"]), 30, "s1 replaced in the restarted container")


def test_fr022_a_listener_whose_docker_exec_dies_is_re_established(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], box_controller: Callable[..., Any]
) -> None:
    """What the listener sees when the engine goes away under it: its `docker exec`
    client ends with an error. (Restarting the shared engine would stop every other
    test's containers, so the client is killed here; test_fault_engine.py restarts an
    engine of its own.) The
    failed wait wakes a pass, which re-arms the listener; with `--resync 3600s` only
    the new waiter can explain the replacement of the agent killed afterwards. The
    waiter the dead client left inside the container ends with the next event."""
    from tests.integration.test_events import instance_id

    bench = benches()
    write(env.desired_dir / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    ctl = box_controller("3600s")
    eventually(lambda: len(states(at)) == 3 and set(states(at).values()) == {("ready", None)}, 60)
    owner = instance_id(env)
    eventually(lambda: hooked_in_box(bench, owner) and len(listener_clients(bench)) == 1, what="listening")
    [client] = listener_clients(bench)
    os.kill(client, 9)
    eventually(lambda: listener_clients(bench) not in ([], [client]), what="a new docker exec client waiting")
    eventually(
        lambda: waiters_in(bench, owner) == 2, what="the killed client's orphaned waiter and the new one"
    )
    old = panes_json(at)["box/s2"]["status"]
    kill_agent_in(bench, old["tmuxPaneId"])
    eventually(replaced_in_box(at, "box/s2", old["id"]), 30, "s2 replaced on the new waiter's event")
    eventually(lambda: waiters_in(bench, owner) == 1, what="the orphaned waiter gone with that event")
    assert ctl.proc is not None and ctl.proc.poll() is None
