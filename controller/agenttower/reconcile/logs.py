"""Pane log files, always read on the host: `<state>/logs/<target>/<layout>/<label>.log`
for host targets, `<logMount.hostPath>/<layout>/<label>.log` for containers.

`pipe-pane` to an unwritable path returns 0 and tmux never says it failed, so
`log_attach` is decided on the host side. For a host target the log is created here
before tmux pipes into it. For a container the pipe runs inside the container and
writes `<logMount.containerPath>/<layout>/<label>.log` (creating the directory as the
container's user, who must own what it writes); the file then has to show up on the
host under `hostPath`, which proves the declared bind mount really is one. A container
without a logMount has no host-readable path at all: the pane is degraded/log_attach
with a reason that says what to configure.

On an ssh host the pipe writes `~/REMOTE_LOGS/<layout>/<label>.log` there (the pipe
creates the directory, as the login user); the pane record keeps that `~/` path, and
`logs` reads it over the same ssh connection. In a container on an ssh host the same
path is below the home of the container's user, inside the container (no path of this
machine can name a mount there), and `logs` reads it with `docker exec` over ssh.
Nothing checks from here that the file appeared, and a pass neither rotates it nor sets
a predecessor's file aside (reconcile/log_rotation.py works on this machine's files):
each would cost a round trip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from agenttower.model.resolved import Target

REMOTE_LOGS = ".local/state/opensoft/agenttower/logs/remote"  # below the ssh login's home
APPEAR_TIMEOUT_S = 2.0  # how long a container's pipe may take to create its file
POLL_S = 0.02


def target_dir_name(target_key: str) -> str:
    return target_key.replace("/", "_")


def log_path(logs_dir: Path, target_key: str, layout: str, label: str) -> Path:
    return logs_dir / target_dir_name(target_key) / layout / f"{label}.log"


def host_path(logs_dir: Path, target: Target, layout: str, label: str) -> Path | None:
    """Where the host reads a pane's log (the pane record's `log_path`); None when a
    container target declares no logMount; `~/…` (on that host) for an ssh host."""
    if target.host is not None:
        return Path(remote_path(layout, label))
    if target.container is None:
        return log_path(logs_dir, target.key, layout, label)
    if target.log_host_path is None or target.log_container_path is None:
        return None
    return Path(target.log_host_path) / layout / f"{label}.log"


def pipe_path(logs_dir: Path, target: Target, layout: str, label: str) -> str | None:
    """Where tmux's pipe writes it, as the tmux server sees the file system."""
    if target.host is not None:
        return remote_path(layout, label)
    if target.container is None:
        return str(log_path(logs_dir, target.key, layout, label))
    if target.log_container_path is None:
        return None
    return f"{target.log_container_path.rstrip('/')}/{layout}/{label}.log"


def remote_path(layout: str, label: str) -> str:
    """`~/…`: the pipe (runtime/quoting.py) and `logs` both expand it to the login's home."""
    return f"~/{REMOTE_LOGS}/{layout}/{label}.log"


def on_remote_host(path: str) -> bool:
    """A pane record's log path on an ssh host (`~/…`), not a file of this machine."""
    return path.startswith("~/")


def no_mount_reason(target: Target) -> str:
    return (
        f"no host-readable log path for {target.key}: set spec.target.logMount "
        "{containerPath, hostPath} to a bind mount of that container "
        "(docker run -v HOSTPATH:CONTAINERPATH)"
    )


def prepare(path: Path) -> str | None:
    """Create a host target's log file (and its dirs); None when fine, else the reason it is not."""
    try:
        for directory in (path.parents[2], path.parents[1], path.parents[0]):  # logs/<target>/<layout>
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        return f"log path {path} is not writable on the host: {exc.strerror}"
    return None


def prepare_for(target: Target, path: Path | None) -> str | None:
    """Before the spawn batch: the host creates its own log files; for a container it
    only checks that the declared host side of the mount exists (the pipe creates the file);
    on an ssh host the pipe creates directory and file itself."""
    return _by_target(target, path, prepare, _mount_dir_problem)


def _by_target(
    target: Target,
    path: Path | None,
    on_host: Callable[[Path], str | None],
    in_container: Callable[[Target, Path], str | None],
) -> str | None:
    """Where a log check applies: an ssh host's log is not looked at from here, a host
    pane without a log path has nothing to check, a container pane needs its mount."""
    if target.host is not None:
        return None
    if target.container is None:
        return on_host(path) if path is not None else None
    if path is None:
        return no_mount_reason(target)
    return in_container(target, path)


def _mount_dir_problem(target: Target, path: Path) -> str | None:
    host_dir = Path(str(target.log_host_path))
    if not host_dir.is_dir():
        return (
            f"logMount.hostPath {host_dir} is not a directory on the host: create it and "
            f"bind-mount it at {target.log_container_path} in container {target.container}"
        )
    return None


def still_writable(path: Path) -> str | None:
    if not path.exists():
        return f"log file {path} disappeared"
    if not os.access(path, os.W_OK):
        return f"log file {path} is not writable"
    return None


def await_files(paths: Iterable[Path], timeout: float = APPEAR_TIMEOUT_S) -> None:
    """Wait (briefly) until every file exists: a container's pipe creates its log file
    asynchronously, a few milliseconds after the spawn batch returned."""
    waiting = [p for p in paths if not p.exists()]
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        time.sleep(POLL_S)
        waiting = [p for p in waiting if not p.exists()]


def check(target: Target, path: Path | None) -> str | None:
    """After the probe: None when the host can use the pane's log, else why not (an ssh
    host's log is not looked at from here: see the module's docstring)."""
    return _by_target(target, path, still_writable, _container_log_problem)


def _container_log_problem(target: Target, path: Path) -> str | None:
    if not path.exists():
        return (
            f"log file {path} did not appear on the host: the pane pipes to "
            f"{(target.log_container_path or '').rstrip('/')}/{path.parent.name}/{path.name} "
            f"in container {target.container}; check that "
            f"{target.log_host_path} is bind-mounted there and writable by the container's user"
        )
    if not os.access(path, os.R_OK):
        return f"log file {path} is not readable on the host (owned by the container's user)"
    return None
