"""`logs LAYOUT/LABEL [-f] [--tail N] [--raw] [--rotated N]`: a pane's output, from the host side.

The pane record keeps the path the host reads (its own logs dir for host targets, the
`logMount.hostPath` side of a container's bind mount), so the same command works for
both, without a `docker exec`; an ssh host's pane log stays on that host and is read by
`tail` over the target's ssh connection. By default the log is rendered to the text the pane
showed, run by run (cli/log_render.py); `--raw` copies the bytes as the pane wrote them
(escape codes included). Like `kubectl logs`, it reads the current file: what a pass
rotated away is read with `--rotated N`. `-f` keeps copying bytes as they come (across truncation, a
rotation and a successor pane, which appends to the same file) until interrupted: a
screen still being drawn has no final text yet, the terminal showing them renders them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from .common import output_option, path_options, verb

if TYPE_CHECKING:
    from agenttower.model.resolved import Target

FOLLOW_POLL_S = 0.2
BLOCK = 64 * 1024


def tail_offset(handle: BinaryIO, lines: int) -> int:
    """Offset of the start of the last `lines` lines (a final line without newline counts)."""
    end = handle.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    position, found = end, -1
    # a trailing newline ends the last line; it does not start another one
    handle.seek(max(end - 1, 0))
    if end and handle.read(1) == b"\n":
        position -= 1
    while position > 0:
        size = min(BLOCK, position)
        position -= size
        handle.seek(position)
        chunk = handle.read(size)
        index = len(chunk)
        while True:
            index = chunk.rfind(b"\n", 0, index)
            if index < 0:
                break
            found += 1
            if found == lines - 1:
                return position + index + 1
    return 0


def _write(data: bytes, output: str, pane: str) -> None:
    if output == "json":
        for line in data.decode("utf-8", "replace").splitlines():
            click.echo(json.dumps({"pane": pane, "line": line}))
        return
    # bytes go to stdout's binary buffer as they are (a log holds whatever the agent
    # wrote); click.get_binary_stream is deprecated since click 8.5
    click.echo(data, nl=False)


def _follow(path: Path, handle: BinaryIO, output: str, pane: str) -> None:
    identity = os.fstat(handle.fileno()).st_ino
    pending = b""
    while True:
        data = handle.read()
        if data:
            if output == "json":  # whole lines only
                pending += data
                cut = pending.rfind(b"\n") + 1
                data, pending = pending[:cut], pending[cut:]
            _write(data, output, pane)
            continue
        time.sleep(FOLLOW_POLL_S)
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # being rotated or recreated: wait for it
        if stat.st_ino != identity:  # replaced: read the new file from its start
            handle.close()
            handle = path.open("rb")
            identity = os.fstat(handle.fileno()).st_ino
        elif stat.st_size < handle.tell():  # truncated
            handle.seek(0)


def _print_rendered(data: bytes, tail: int, output: str, pane: str) -> None:
    from .log_render import render, text_lines

    if output == "json":
        rows: list[dict[str, Any]] = []
        for run, lines in render(data, tail):
            if run.header is not None:
                header = run.header
                run_of = {"paneId": header.pane_id, "started": header.started, "argv": list(header.argv)}
                rows.append({"pane": pane, "run": run_of})
            rows.extend({"pane": pane, "line": line} for line in lines)
        for row in rows[-tail:] if tail > 0 else rows if tail < 0 else []:
            click.echo(json.dumps(row))
        return
    text = list(text_lines(render(data, tail)))
    for line in text[-tail:] if tail > 0 else text if tail < 0 else []:
        click.echo(line)


# $1: the log below $HOME; $2: lines (-1: all); $3: 1 to follow. Exit 3: no such file yet.
_REMOTE_TAIL = """f="$HOME/$1"
if [ "$2" -ge 0 ]; then n="$2"; else n=+1; fi
if [ "$3" = 1 ]; then exec tail -n "$n" -F "$f" 2>/dev/null; fi
[ -e "$f" ] || exit 3
exec tail -n "$n" "$f"
"""
MISSING = 3


def _remote(target: Target, path: str, follow: bool, tail: int, raw: bool, output: str, name: str) -> None:
    """An ssh host's pane log, read by `tail` there over the same multiplexed connection
    a pass uses: rendered like a local one, or (`--raw`, `-f`) its bytes streamed as
    they come (`-F` follows it across truncation, a rotation and a successor pane)."""
    import subprocess

    from agenttower.model.errors import validation_failed
    from agenttower.runtime import ssh
    from agenttower.runtime.target import ExecTarget

    below_home = path.removeprefix("~/")
    exec_target = ExecTarget(target)
    render = not raw and not follow  # the whole file, rendered here
    lines = -1 if render else tail
    argv = exec_target.command(
        "sh", "-c", _REMOTE_TAIL, "agenttower-logs", below_home, str(lines), str(int(follow))
    )
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=exec_target.environment(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    pending = b""
    whole: list[bytes] = []
    try:
        while chunk := os.read(proc.stdout.fileno(), BLOCK):
            if render:
                whole.append(chunk)
                continue
            if output == "json":  # whole lines only
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                chunk, pending = pending[:cut], pending[cut:]
            _write(chunk, output, name)
    except KeyboardInterrupt:
        proc.kill()
        sys.exit(0)
    if pending:
        _write(pending, output, name)
    error = proc.stderr.read().decode("utf-8", "replace").strip()
    code = proc.wait()
    if code == MISSING:
        raise validation_failed("logPath", f"log file {path} of pane {name} does not exist on {target.key}")
    failed = ssh.failure(code, error, target.container is not None)
    if failed is not None:
        raise validation_failed("logPath", f"cannot read {path} on {target.key}: {failed.advice} ({error})")
    if code != 0:
        raise validation_failed("logPath", f"cannot read {path} on {target.key}: {error or f'exit {code}'}")
    if render:
        _print_rendered(b"".join(whole), tail, output, name)


def _pane(state_dir: Path | None, desired_dir: Path | None, name: str) -> Any:
    from agenttower.model.resolved import Target
    from agenttower.paths import Paths
    from agenttower.store.repo import Store

    from .get_cmd import find_pane
    from .views import World

    paths = Paths.resolve(state_dir, desired_dir)
    store = Store.open_for_reading(paths.database)
    try:
        world = World.load(store, True)
        pane = find_pane(world, name)
        layout = world.layout_by_id(pane.layout_id)
    finally:
        store.close()
    target = Target.of_record(layout.target_key, layout.resolved) if layout else None
    return pane, (f"{layout.name}/{pane.label}" if layout else name), target


@click.command("logs")
@click.argument("pane")
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the pane writes.")
@click.option("--tail", "tail", type=int, default=-1, show_default=True, help="Last N lines (-1: all).")
@click.option("--raw", is_flag=True, help="The bytes as the pane wrote them, escape codes included.")
@click.option(
    "--rotated",
    type=click.IntRange(min=1),
    default=None,
    help="Read the N-th rotated copy (<label>.log.N, 1: the newest) instead of the log.",
)
@output_option(default="text", choices=("text", "json"))
@path_options
@verb()
def logs_command(
    pane: str,
    follow: bool,
    tail: int,
    raw: bool,
    rotated: int | None,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Print a pane's log as text (LAYOUT/LABEL or a pane id), host and container alike.

    Each run of the pane's slot starts with a line naming its record, start time and
    command. -f and --raw copy the bytes instead, escape codes included.

    \b
    Examples:
      agenttower logs team/s1 --tail 50
      agenttower logs team/s1 --raw
      agenttower logs pane/team/s1 -f
    """
    from agenttower.model.errors import validation_failed

    record, name, target = _pane(state_dir, desired_dir, pane)
    if not record.log_path:
        why = f": {record.reason}" if record.failed_stage == "log_attach" and record.reason else ""
        raise validation_failed("logPath", f"pane {name} has no log{why}")
    if rotated and follow:
        raise click.UsageError("--rotated reads a finished file: it cannot be followed")
    if target is not None and target.host is not None:
        remote = f"{record.log_path}.{rotated}" if rotated else record.log_path
        _remote(target, remote, follow, tail, raw, output, name)
        return
    path = Path(record.log_path)
    if rotated:
        path = path.with_name(f"{path.name}.{rotated}")
    elif not follow and path.with_name(f"{path.name}.1").exists():
        click.echo(f"(earlier output was rotated to {path.name}.1 ...: read it with --rotated 1)", err=True)
    while not path.exists():
        if not follow:
            raise validation_failed("logPath", f"log file {path} of pane {name} does not exist")
        time.sleep(FOLLOW_POLL_S)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise validation_failed("logPath", f"cannot read {path}: {exc.strerror}") from None
    try:
        if not raw and not follow:
            _print_rendered(handle.read(), tail, output, name)
            return
        if tail >= 0:
            handle.seek(tail_offset(handle, tail))
        else:
            handle.seek(0)
        data = handle.read()
        if output == "json" and follow and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1  # an unfinished last line comes with the rest of it
            handle.seek(handle.tell() - (len(data) - cut))
            data = data[:cut]
        _write(data, output, name)
        if follow:
            try:
                _follow(path, handle, output, name)
            except KeyboardInterrupt:
                sys.exit(0)
    finally:
        handle.close()
