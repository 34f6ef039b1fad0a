"""ssh benchmarks: a 2m+2s layout converged on a "remote" host over a loopback sshd.

    python benchmarks/ssh.py [--repeat N]

One throw-away sshd for the whole script (`sshd -D -e -f CONFIG` on a free port of
127.0.0.1, a throw-away host key and user key, `SetEnv TMUX_TMPDIR=… HOME=…` so the
remote tmux server is the script's own). Every run gets a fresh sandbox from run.py and
AGENTTOWER_SSH pointing at a wrapper that logs each call and adds `-F` with the
script's client config (the user's ~/.ssh is never read). Per run:

- wall: the whole `agenttower apply -f FILE --wait`, process start to exit; the first
  case opens the multiplexed master connection inside that time (a cold start), the
  no-op case runs on the master the preparing apply left up;
- ssh calls: every ssh invocation agenttower made.

Each run is checked (4 panes `ready`, 4 live panes on the remote server); a failed check
stops the script before any table is printed. The floor rows time `ssh remote true`
cold (a new connection each) and on a warm master. Prints a Markdown table.

With a docker engine and the bench image (`--image`, `.ci/docker-setup.sh` builds it)
the same cases run again on a container *on* the remote host (`target: {host: remote,
container: C}`: `ssh remote docker exec -i C tmux …`, the sshd's logins running this
machine's docker as that host's own), one throw-away container for the whole script;
`--no-container` skips them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from run import (
    AGENTTOWER,
    LABELS,
    LIVE_FORMAT,
    PANE_COMMAND,
    REAL_TMUX,
    BenchError,
    Sandbox,
    check_live_team,
    check_ok,
    check_ready,
    count_range,
    cpu_model,
    sandbox,
    write_agenttower,
)

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH = shutil.which("ssh")
KEYGEN = shutil.which("ssh-keygen")
DOCKER = shutil.which("docker")
TEMPLATE = "2m+2s"
FLOOR_CALLS = 10


@dataclass
class Loopback:
    root: Path
    client_config: Path
    proc: subprocess.Popen[bytes]

    @property
    def tmux_tmpdir(self) -> Path:
        return self.root / "rtmux"

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REAL_TMUX), "-u", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TMUX_TMPDIR": str(self.tmux_tmpdir)},
        )


@contextmanager
def loopback() -> Iterator[Loopback]:
    assert SSHD and KEYGEN
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="atb-ssh-", dir="/tmp"))
    for key in ("host_key", "user_key"):
        subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
    for d in ("rtmux", "rhome"):
        (root / d).mkdir()
    shutil.copy(root / "user_key.pub", root / "authorized_keys")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"SetEnv TMUX_TMPDIR={root / 'rtmux'} HOME={root / 'rhome'}\n"
    )
    kind, key = (root / "host_key.pub").read_text().split()[:2]
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
    client = root / "ssh_config"
    client.write_text(
        f"Host remote\n  HostName 127.0.0.1\n  Port {port}\n  User {os.environ.get('USER') or 'root'}\n"
        f"  IdentityFile {root / 'user_key'}\n  IdentitiesOnly yes\n  IdentityAgent none\n"
        f"  UserKnownHostsFile {root / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
    )
    log = (root / "sshd.log").open("ab")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while "Server listening" not in (root / "sshd.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"sshd did not start: {(root / 'sshd.log').read_text()[-500:]}")
        time.sleep(0.05)
    box = Loopback(root, client, proc)
    try:
        yield box
    finally:
        box.tmux("kill-server")
        proc.kill()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def wrapper(sb: Sandbox, box: Loopback) -> tuple[Path, Path]:
    log = sb.root / "ssh-calls.log"
    path = sb.root / "ssh-wrapper"
    path.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {shlex.quote(str(log))}\n'
        f'exec {shlex.quote(str(SSH))} -F {shlex.quote(str(box.client_config))} "$@"\n'
    )
    path.chmod(0o755)
    return path, log


def write_layout(sb: Sandbox, container: str | None) -> Path:
    target = {"host": "remote", **({"container": container} if container else {})}
    return write_agenttower(sb, 1, TEMPLATE, target)


def in_container(container: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert DOCKER
    return subprocess.run(
        [DOCKER, "exec", container, "tmux", "-u", *args], capture_output=True, text=True, check=False
    )


def check_remote(box: Loopback, panes: int, container: str | None) -> None:
    if container:
        listed = in_container(container, "list-panes", "-a", "-F", LIVE_FORMAT)
        check_live_team(listed, panes, f"the remote host's container {container}")
    else:
        check_live_team(box.tmux("list-panes", "-a", "-F", LIVE_FORMAT), panes, "the remote server")


@dataclass
class Case:
    name: str
    env: dict[str, str]
    noop: bool = False
    container: str | None = None  # a container on the remote host, by name
    walls: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)


@contextmanager
def bench_container(image: str) -> Iterator[str]:
    """One throw-away container of the bench image, removed at the end."""
    assert DOCKER
    name = f"atb-ssh-{os.getpid()}"
    started = subprocess.run(
        [DOCKER, "run", "-d", "--name", name, "--label", "agenttower.dev/test=1", image],
        capture_output=True,
        text=True,
        check=False,
    )
    check_ok(f"docker run {image}", started)
    try:
        yield name
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, check=False)


def stop_master(sb: Sandbox, ssh: Path) -> None:
    """End the run's master connection (it would outlive the sandbox for ControlPersist)."""
    for path in (sb.root / "state" / "opensoft" / "agenttower" / "ssh").glob("*"):
        subprocess.run([str(ssh), "-o", f"ControlPath={path}", "-O", "exit", "remote"], capture_output=True)


def run_once(case: Case, box: Loopback) -> None:
    with sandbox() as sb:
        ssh, log = wrapper(sb, box)
        path = write_layout(sb, case.container)
        argv = [str(AGENTTOWER), "apply", "-f", str(path), "--wait"]
        env = {"AGENTTOWER_SSH": str(ssh), **case.env}
        try:
            if case.noop:
                check_ok("agenttower apply (prepare)", sb.run(argv, extra_env=env)[1])
                log.unlink(missing_ok=True)
            seconds, proc = sb.run(argv, extra_env=env)
            check_ok("agenttower apply", proc)
            expected = "unchanged" if case.noop else "created"
            if f"layout/team {expected}" not in proc.stdout:
                raise BenchError(f"layout/team not {expected}:\n{proc.stdout}{proc.stderr}")
            check_ready(sb, len(LABELS[TEMPLATE]))
            check_remote(box, len(LABELS[TEMPLATE]), case.container)
            case.walls.append(seconds)
            case.calls.append(len(log.read_text().splitlines()))
        finally:
            stop_master(sb, ssh)
            box.tmux("kill-server")
            if case.container:
                in_container(case.container, "kill-server")


def floor(box: Loopback) -> tuple[list[float], list[float]]:
    """`ssh remote true`: a new connection each time, then on one warm master."""
    assert SSH
    base = [SSH, "-F", str(box.client_config), "-o", "BatchMode=yes"]
    master = str(box.root / "m")
    cold, warm = [], []
    for into, extra in (
        (cold, []),
        (warm, ["-o", "ControlMaster=auto", "-o", f"ControlPath={master}", "-o", "ControlPersist=60"]),
    ):
        for _ in range(FLOOR_CALLS):
            start = time.perf_counter()
            check_ok(
                "ssh remote true",
                subprocess.run(
                    [*base, *extra, "remote", "true"], capture_output=True, text=True, check=False
                ),
            )
            into.append(time.perf_counter() - start)
    subprocess.run(
        [*base, "-o", f"ControlPath={master}", "-O", "exit", "remote"], capture_output=True, check=False
    )
    return cold, warm[1:]  # the first warm call opened the master


def docker_ready(image: str) -> bool:
    """The engine answers and the bench image exists (else the container cases are left out)."""
    if DOCKER is None:
        return False
    answered = subprocess.run([DOCKER, "image", "inspect", image], capture_output=True, check=False)
    if answered.returncode != 0:
        print(f"  (no container cases: {image} or the engine is missing)", file=sys.stderr)
    return answered.returncode == 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def render(cases: list[Case], cold: list[float], warm: list[float], repeat: int) -> str:
    version = subprocess.run([str(SSH), "-V"], capture_output=True, text=True, check=False).stderr.strip()
    lines = [
        "## ssh host (loopback)",
        "",
        f"`python benchmarks/ssh.py --repeat {repeat}`: a {TEMPLATE} layout (4 panes running "
        f"`{shlex.join(PANE_COMMAND)}`) on `target.host` = a loopback sshd (and, for the container "
        "rows, in a bench container on it), a fresh sandbox per run.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; nproc {os.cpu_count()} ({cpu_model()})",
        f"- client: {version}",
        f"- `ssh remote true`: median {ms(statistics.median(cold))} ms on a new connection, "
        f"{ms(statistics.median(warm))} ms on a warm master ({FLOOR_CALLS} calls each)",
        "",
        "| case | runs | wall median ms | wall min ms | ssh calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in cases:
        count = count_range(case.calls)
        lines.append(
            f"| {case.name} | {len(case.walls)} | {ms(statistics.median(case.walls))} "
            f"| {ms(min(case.walls))} | {count} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--image", default=os.environ.get("AGENTTOWER_BENCH_IMAGE", "agenttower-bench:test"))
    parser.add_argument("--no-container", action="store_true", help="skip the container-on-the-host cases")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not (SSHD and SSH and KEYGEN and AGENTTOWER and REAL_TMUX):
        print("error: sshd, ssh, ssh-keygen, tmux or agenttower not found", file=sys.stderr)
        return 2
    cases = [
        Case("apply --wait, cold connection (probe 1s, default)", {}),
        Case("apply --wait, cold connection (probe 0s)", {"AGENTTOWER_PROBE_DELAY": "0s"}),
        Case("no-op re-apply --wait (warm master)", {}, noop=True),
    ]
    boxed = not args.no_container and docker_ready(args.image)
    try:
        with loopback() as box, bench_container(args.image) if boxed else nullcontext("") as name:
            cold, warm = floor(box)
            if name:
                cases += [
                    Case("container on the host: apply --wait, cold (probe 1s)", {}, container=name),
                    Case("container on the host: no-op re-apply --wait", {}, noop=True, container=name),
                ]
            for case in cases:
                run_once(Case(case.name, case.env, case.noop, case.container), box)  # warm-up, not kept
                for _ in range(args.repeat):
                    run_once(case, box)
                print(
                    f"  {case.name:<52} wall {statistics.median(case.walls):.3f}s  ssh {case.calls}",
                    file=sys.stderr,
                )
    except BenchError as exc:
        print(f"\nBENCHMARK RUN FAILED, no table printed:\n{exc}", file=sys.stderr)
        return 1
    print(render(cases, cold, warm, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
