"""`doctor`: can agenttower work here, and if not, what to change.

Every failure a pass would only report as "target unreachable" is taken apart here:
the tmux binary and its version, each host tmux server the desired dir or the records
use (not started yet is fine: the first apply starts it), the docker binary and daemon,
each referenced container (exists, runs, has tmux, mounts the declared logMount), the
state dir and the control socket. Read-only: it starts no server, writes no record.
Exit 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import doctor_storage
from .common import Exit, emit, output_option, path_options, verb

if TYPE_CHECKING:  # imported when a check runs: `doctor --help` stays cheap
    from agenttower.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_TMUX = (3, 2)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


@dataclass
class Targets:
    """What the desired dir and the records point at."""

    host: dict[str, Any]  # key -> Target
    containers: dict[tuple[str, str | None, str | None, str | None], list[Any]]  # -> [Target]
    layouts: int
    ssh: dict[str, Any] = field(default_factory=dict)  # key -> Target on another machine
    listings: dict[str, Any] = field(default_factory=dict)  # key -> Listing, made once by the checks
    panes: dict[str, int] = field(default_factory=dict)  # target key -> panes the desired dir wants


def _tmux_version(text: str) -> tuple[int, int] | None:
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _targets(paths: Any, checks: list[Check], selected: str | None = None) -> Targets:
    """`selected`: the target-host selection (reconcile/selection.py): another host's layouts
    are not this machine's to check, and this host's run here."""
    from agenttower.model.resolved import Target
    from agenttower.reconcile import desired_dir, engine, selection

    found: list[Target] = []
    layouts = 0
    wanted: dict[str, int] = {}
    if not paths.desired_dir.exists():
        checks.append(
            Check(
                "desired dir",
                WARN,
                f"{paths.desired_dir} does not exist yet",
                "`agenttower apply -f FILE` creates it, or set --desired-dir / AGENTTOWER_DESIRED_DIR",
            )
        )
    else:
        desired, problems = desired_dir.load_lenient(
            paths.desired_dir, engine.legacy_catalog(paths), desired_dir.DirCache()
        )
        desired = selection.select(desired, selected)
        layouts = len(desired.layouts)
        found += [layout.target for layout in desired.layouts.values()]
        for layout in desired.layouts.values():
            wanted[layout.target.key] = wanted.get(layout.target.key, 0) + len(layout.panes)
        if problems:
            for problem in problems:
                checks.append(
                    Check(
                        "desired dir",
                        FAIL,
                        problem.error.located_message(),
                        "fix that manifest: its layouts stay at their last good spec until it is valid",
                    )
                )
        else:
            checks.append(
                Check(
                    "desired dir",
                    OK,
                    f"{paths.desired_dir}: {layouts} layout{'' if layouts == 1 else 's'}, all valid",
                )
            )
    from agenttower.store.repo import Store

    if paths.database.exists():
        try:
            store = Store.peek(paths.database)
            if store is None:
                raise sqlite3.DatabaseError("empty")
            try:
                found += [Target.of_record(key, spec) for key, spec in store.live_layout_targets()]
            finally:
                store.close()
        except sqlite3.Error:
            pass  # the state dir check says what is wrong with the database
    host: dict[str, Target] = {"host": Target()}
    containers: dict[tuple[str, str | None, str | None, str | None], list[Target]] = {}
    remote: dict[str, Target] = {}
    for target in found:
        if target.host is not None:
            remote.setdefault(target.key, target)
        elif target.container is None:
            host.setdefault(target.key, target)
        else:
            group = (target.container, target.user, target.socket, target.socket_path)
            if target not in containers.setdefault(group, []):
                containers[group].append(target)
    return Targets(host, containers, layouts, ssh=remote, panes=wanted)


def _check_tmux(settings: Settings, targets: Targets, checks: list[Check]) -> None:
    from agenttower.runtime.observe import ListingStatus
    from agenttower.runtime.target import ExecTarget
    from agenttower.runtime.tmux import Tmux

    binary = shutil.which(settings.tmux.binary)
    if binary is None:
        checks.append(
            Check(
                "tmux",
                FAIL,
                f"{settings.tmux.binary!r} not found on PATH",
                "install tmux (apt-get install tmux, brew install tmux) or set AGENTTOWER_TMUX",
            )
        )
        return
    try:
        out = subprocess.run(
            [binary, "-V"],
            capture_output=True,
            text=True,
            timeout=10,
            env=ExecTarget.environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        checks.append(Check("tmux", FAIL, f"{binary} -V failed: {exc}", "reinstall tmux"))
        return
    number = _tmux_version(out)
    if number is not None and number < MIN_TMUX:
        checks.append(
            Check("tmux", WARN, f"{out} at {binary}", "agenttower needs tmux 3.2 or newer (tested with 3.3a)")
        )
    else:
        checks.append(Check("tmux", OK, f"{out or 'tmux'} at {binary}"))
    for key, target in sorted(targets.host.items()):
        listing = Tmux(
            ExecTarget(target, settings.tmux.binary), timeout=settings.tmux.read_timeout
        ).list_panes()
        targets.listings[key] = listing
        name = f"tmux server ({key})"
        if listing.status is ListingStatus.OK:
            checks.append(Check(name, OK, f"running, {len(listing.panes)} panes"))
            _check_open_files(name, listing, targets.panes.get(key, 0), checks)
        elif listing.status is ListingStatus.EMPTY:
            checks.append(Check(name, OK, "not started yet (the first apply starts it)"))
        else:
            checks.append(
                Check(
                    name,
                    FAIL,
                    f"does not answer: {listing.error}",
                    "check the socket's owner and TMUX_TMPDIR; a hung server: `tmux kill-server` "
                    "(kills its panes)",
                )
            )


def _check_open_files(name: str, listing: Any, wanted: int, checks: list[Check]) -> None:
    """A server someone else started keeps its own open-files limit (runtime/limits.py)."""
    from agenttower.runtime import limits

    pid = next((p.server_pid for p in listing.panes if p.server_pid is not None), None)
    soft = limits.server_limit(pid) if pid is not None else None
    panes = max(wanted, len(listing.panes))
    if soft is None or soft >= limits.needed(panes):
        return
    checks.append(
        Check(
            f"{name} open files",
            WARN,
            f"its limit is {soft} open files; {panes} panes need about {limits.needed(panes)}: "
            "past it the server stops answering",
            "restart that server from a shell with a higher limit (`ulimit -n 65536; tmux "
            "kill-server` (its panes go, and come back by their restartPolicy), then `agenttower apply`), "
            "or raise LimitNOFILE in its unit",
        )
    )


def _check_docker(settings: Settings, targets: Targets, checks: list[Check]) -> None:
    from agenttower.runtime import docker
    from agenttower.runtime.observe import ListingStatus
    from agenttower.runtime.target import ExecTarget
    from agenttower.runtime.tmux import Tmux

    binary = docker.docker_binary()
    if not targets.containers:
        checks.append(Check("docker", OK, "not needed: no layout targets a container"))
        return
    if shutil.which(binary) is None:
        checks.append(
            Check(
                "docker",
                FAIL,
                f"{binary!r} not found on PATH",
                "install docker (apt-get install docker.io), or set AGENTTOWER_DOCKER=podman",
            )
        )
        return
    server = docker.server_version(binary)
    if not server.ok:
        denied = "permission denied" in server.stderr.lower()
        fix = (
            "add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again)"
            if denied
            else "start the daemon (`sudo systemctl start docker` or .ci/docker-setup.sh), or set DOCKER_HOST"
        )
        checks.append(Check("docker daemon", FAIL, server.stderr or "no answer", fix))
        return
    checks.append(Check("docker daemon", OK, f"{binary}, server {server.stdout.strip()}"))
    for (name, user, _sock, _path), group in sorted(
        targets.containers.items(), key=lambda item: tuple(str(x) for x in item[0])
    ):
        label = f"container {name}" + (f" (user {user})" if user else "")
        info = docker.inspect(name, binary)
        if info is None:
            checks.append(
                Check(
                    label,
                    FAIL,
                    "does not exist",
                    f"start it: docker run -d --name {name} -v HOSTPATH:CONTAINERPATH IMAGE "
                    "(see docs/containers.md), or fix spec.target.container",
                )
            )
            continue
        if isinstance(info, docker.Answer):
            checks.append(Check(label, FAIL, info.stderr, "see `docker inspect` for this container"))
            continue
        if not info.running:
            checks.append(
                Check(label, FAIL, f"is {info.status}", f"docker start {name} (its panes restart per policy)")
            )
            continue
        checks.append(Check(label, OK, f"running as {user or info.user or 'root'}"))
        target = group[0]
        tmux = ExecTarget(target)
        answer = docker.run(tmux.command("tmux", "-V"))
        if not answer.ok:
            checks.append(
                Check(
                    f"tmux in {name}",
                    FAIL,
                    answer.stderr or "tmux -V failed",
                    "install tmux in the image (deploy/bench-image/ builds one) or fix spec.target.user",
                )
            )
            continue
        listing = Tmux(tmux, timeout=settings.tmux.read_timeout).list_panes()
        targets.listings.update({each.key: listing for each in group})
        if listing.status is ListingStatus.INDETERMINATE:
            checks.append(
                Check(
                    f"tmux in {name}",
                    FAIL,
                    f"{answer.stdout.strip()}; server does not answer: {listing.error}",
                    "check spec.target.socket/socketPath and the user's /tmp/tmux-UID",
                )
            )
        else:
            state = f"running, {len(listing.panes)} panes" if listing.panes else "server not started yet"
            checks.append(Check(f"tmux in {name}", OK, f"{answer.stdout.strip()}; {state}"))
        for each in group:
            checks.append(_check_mount(name, each, info))


def _check_ssh(settings: Settings, targets: Targets, checks: list[Check]) -> None:
    """One listing per ssh host, through the same multiplexed connection a pass uses; a
    host that cannot be asked says which of ssh's failures it is and what to do."""
    from agenttower.runtime import ssh
    from agenttower.runtime.observe import ListingStatus
    from agenttower.runtime.target import ExecTarget
    from agenttower.runtime.tmux import Tmux

    if not targets.ssh:
        return
    binary = ssh.ssh_binary()
    if shutil.which(binary) is None:
        checks.append(
            Check(
                "ssh", FAIL, f"{binary!r} not found on PATH", "install openssh-client, or set AGENTTOWER_SSH"
            )
        )
        return
    for key, target in sorted(targets.ssh.items()):
        listing = Tmux(ExecTarget(target), timeout=settings.tmux.read_timeout).list_panes(retry=False)
        targets.listings[key] = listing
        if target.container is not None:
            checks.append(_remote_container(key, target, listing))
            continue
        name = f"ssh host ({key})"
        if listing.status is ListingStatus.OK:
            checks.append(Check(name, OK, f"reachable; tmux running, {len(listing.panes)} panes"))
        elif listing.status is ListingStatus.EMPTY:
            checks.append(
                Check(name, OK, "reachable; tmux server not started yet (the first apply starts it)")
            )
        else:
            failure = listing.ssh_failure or ssh.SshFailure.UNKNOWN
            checks.append(Check(name, FAIL, listing.error or failure.value, failure.advice))


def _remote_container(key: str, target: Any, listing: Any) -> Check:
    """A container on an ssh host, from the one listing a pass makes there: its answer is
    classified as a local container's, after ssh's own failures (runtime/tmux.py)."""
    from agenttower.runtime.observe import ListingStatus, Unavailable

    name = f"container on ssh host ({key})"
    host, container = target.host, target.container
    if listing.status is ListingStatus.OK:
        return Check(name, OK, f"reachable, container running; tmux running, {len(listing.panes)} panes")
    if listing.unavailable is Unavailable.CONTAINER_STOPPED:
        fix = f"ssh {host} docker start {container} (its panes restart per policy)"
        return Check(name, FAIL, f"reachable; the container is not running: {listing.error}", fix)
    if listing.unavailable is Unavailable.CONTAINER_MISSING:
        fix = f"start it there (ssh {host} docker run -d --name {container} IMAGE), or fix spec.target"
        return Check(name, FAIL, f"reachable; no container {container} on {host}", fix)
    if listing.status is ListingStatus.EMPTY:
        detail = "reachable, container running; tmux server not started yet (the first apply starts it)"
        return Check(name, OK, detail)
    if listing.ssh_failure is not None:
        return Check(name, FAIL, listing.error or listing.ssh_failure.value, listing.ssh_failure.advice)
    fix = (
        f"check docker on {host} as your ssh login (ssh {host} docker ps): its daemon, the login's "
        "access to it (the docker group), tmux in the image, spec.target.user"
    )
    return Check(name, FAIL, listing.error or "no answer", fix)


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return a.rstrip("/") == b.rstrip("/")


def _check_mount(name: str, target: Any, info: Any) -> Check:
    label = f"logMount of {name}"
    if target.log_container_path is None or target.log_host_path is None:
        return Check(
            label,
            WARN,
            "none declared: its panes will be degraded/log_attach (no host-readable log)",
            f"declare spec.target.logMount {{containerPath, hostPath}} and start {name} with "
            "-v HOSTPATH:CONTAINERPATH",
        )
    cpath, hpath = target.log_container_path, target.log_host_path
    mount = info.mount_for(cpath)
    run_with = f"recreate {name} with -v {hpath}:{cpath}"
    if mount is None:
        return Check(label, FAIL, f"{cpath} is not a mount in {name}", run_with)
    expected = os.path.join(hpath, os.path.relpath(cpath, mount.destination))
    if not _same_dir(os.path.join(mount.source, os.path.relpath(cpath, mount.destination)), expected):
        return Check(label, FAIL, f"{cpath} is mounted from {mount.source}, not from {hpath}", run_with)
    if not mount.writable:
        return Check(label, FAIL, f"{mount.destination} is mounted read-only", f"{run_with} (not :ro)")
    if not Path(hpath).is_dir():
        return Check(label, FAIL, f"{hpath} is not a directory on the host", f"mkdir -p {hpath}")
    return Check(label, OK, f"{hpath} (host) = {cpath} (in {name})")


def _check_state(paths: Any, listings: dict[str, Any], checks: list[Check]) -> None:
    state = paths.state_dir
    if not state.exists():
        checks.append(Check("state dir", OK, f"{state} not created yet (the first command creates it)"))
    else:
        info = state.stat()
        problems = []
        if not state.is_dir():
            problems.append("is not a directory")
        if info.st_uid != os.getuid():
            problems.append(f"is owned by uid {info.st_uid}, not you ({os.getuid()})")
        if not os.access(state, os.W_OK | os.X_OK) and not doctor_storage.read_only(state):
            problems.append("is not writable")
        if problems:
            checks.append(
                Check(
                    "state dir",
                    FAIL,
                    f"{state} {', '.join(problems)}",
                    f"chown -R $USER {state} (or set AGENTTOWER_STATE_DIR)",
                )
            )
        elif stat.S_IMODE(info.st_mode) & 0o077:
            checks.append(
                Check(
                    "state dir",
                    WARN,
                    f"{state} is mode {stat.S_IMODE(info.st_mode):o}: others can read records and logs",
                    f"chmod 700 {state}",
                )
            )
        else:
            checks.append(Check("state dir", OK, f"{state} (mode 700)"))
        checks.extend(doctor_storage.file_system(paths, Check))
    checks.extend(doctor_storage.database(paths, listings, Check))
    _check_socket(paths.socket, checks)


def _check_socket(path: Path, checks: list[Check]) -> None:
    if not path.exists():
        checks.append(Check("control socket", OK, "no controller running (the CLI reconciles in-process)"))
        return
    info = path.lstat()
    if not stat.S_ISSOCK(info.st_mode):
        checks.append(Check("control socket", FAIL, f"{path} is not a socket", f"rm {path}"))
        return
    if stat.S_IMODE(info.st_mode) & 0o077 or info.st_uid != os.getuid():
        checks.append(
            Check(
                "control socket",
                FAIL,
                f"{path} is mode {stat.S_IMODE(info.st_mode):o}, uid {info.st_uid}",
                f"stop the controller, rm {path}, start it again (it creates the socket 0600)",
            )
        )
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(2.0)
    try:
        conn.connect(str(path))
        checks.append(Check("control socket", OK, f"a controller answers on {path}"))
    except OSError:
        checks.append(
            Check(
                "control socket",
                WARN,
                f"{path} is left over: no controller listens",
                "harmless (the CLI works in-process); `agenttower controller run` replaces it",
            )
        )
    finally:
        conn.close()


def _check_layouts(paths: Any, settings: Any, targets: Targets, checks: list[Check]) -> None:
    """Each live layout as it is now (the listings above, judged by the planner), so a
    killed pane shows here before any pass has recorded it. Read-only, like the rest."""
    from agenttower.reconcile import live
    from agenttower.store.records import current_panes
    from agenttower.store.repo import Store

    try:
        store = Store.peek(paths.database)
        if store is None:
            return  # no database yet
        try:
            if not store.schema_current():
                return  # an older schema that only a writer may migrate
            layouts, panes = store.layouts(), store.live_layout_panes()
        finally:
            store.close()
    except sqlite3.Error:
        return  # the database check says what is wrong with it
    now = datetime.now(UTC)
    seen = live.observe(layouts, panes, store.instance_id, settings, now, targets.listings)
    for rec in layouts:
        mine = current_panes(p for p in panes if p.layout_id == rec.id).values()
        checks.append(_layout_check(rec, [seen.pane(p) for p in mine], seen.target(rec.target_key)))


def _layout_check(rec: Any, panes: list[Any], seen: Any) -> Check:
    from agenttower.model.lifecycle import State, layout_state
    from agenttower.reconcile.live import Source

    name = f"layout {rec.name}"
    if seen.source is Source.STALE:
        return Check(
            name,
            WARN,
            f"{rec.target_key} could not be listed ({seen.error}): recorded state {rec.state}",
            "see the tmux server / container / ssh host checks above",
        )
    live = [p for p in panes if p.state != State.REMOVED]
    ready = sum(1 for p in live if p.state == State.READY)
    state = layout_state(p.state for p in panes) if panes else State(rec.state)
    detail = f"{state}, {ready}/{len(live)} panes ready"
    bad = [p for p in live if p.state != State.READY]
    if not bad:
        return Check(name, OK, detail)
    problems = "; ".join(f"{rec.name}/{p.label} {p.state} ({p.failed_stage}): {p.reason}" for p in bad)
    return Check(
        name, WARN, f"{detail}; {problems}", "; ".join(_pane_fix(f"{rec.name}/{p.label}", p) for p in bad)
    )


def _pane_fix(name: str, pane: Any) -> str:
    """The verbs that bring a pane back (a restartPolicy would do them on its own)."""
    from agenttower.model.lifecycle import State

    if pane.state == State.FAILED:
        return f"`agenttower recreate pane {name}`"
    if pane.state == State.DEGRADED:
        return f"`agenttower remove pane {name}`, then `agenttower recreate pane {name}`"
    return f"wait: `agenttower describe pane {name}`"


def run_checks(state_dir: Path | None, desired_dir: Path | None) -> list[Check]:
    from agenttower.paths import Paths
    from agenttower.settings import Settings

    paths = Paths.resolve(state_dir, desired_dir)
    settings = Settings.from_env()
    checks: list[Check] = []
    targets = _targets(paths, checks, settings.loop.target_host)
    _check_tmux(settings, targets, checks)
    _check_docker(settings, targets, checks)
    _check_ssh(settings, targets, checks)
    _check_state(paths, targets.listings, checks)
    _check_layouts(paths, settings, targets, checks)
    return checks


@click.command("doctor")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def doctor_command(output: str, state_dir: Path | None, desired_dir: Path | None) -> None:
    """Check tmux, docker, the containers the desired dir uses, and the state dir; say what to fix.

    \b
    Examples:
      agenttower doctor
      agenttower doctor -o json
    """
    checks = run_checks(state_dir, desired_dir)
    ok = all(c.status != FAIL for c in checks)
    if output == "table":
        width = max(len(c.name) for c in checks)
        for c in checks:
            click.echo(f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != OK:
                click.echo(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
        failed = sum(1 for c in checks if c.status == FAIL)
        click.echo("all checks passed" if ok else f"{failed} check(s) failed")
    else:
        emit({"kind": "Doctor", "ok": ok, "checks": [asdict(c) for c in checks]}, output)
    if not ok:
        raise Exit(1)
