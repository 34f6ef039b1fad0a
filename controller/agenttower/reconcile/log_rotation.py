"""Size-capped pane logs: a pass rotates each live pane's log past `LogSettings.max_bytes`,
and a re-created layout starts its own files instead of appending to its predecessor's.

Rotation is copy-truncate, at pass time, on the host. tmux's `pipe-pane` runs
`cat >> FILE` for the pane's whole life and keeps that file open, so renaming it would
leave `cat` writing into the renamed file. The two ways out were re-piping (rename,
then a `pipe-pane` per rotated pane: a tmux call, and for a container a `docker exec`,
inside a pass that otherwise needs none) or copy-truncate (read the file, truncate it
to zero, the copy kept as `<label>.log.1`). Copy-truncate needs nothing from tmux and
works the same through a container's logMount, and because the pipe opened the file
with O_APPEND its next write lands at the new end (offset 0), never past a hole. The
copy is written first and what the pane wrote meanwhile is read again just before
the truncate, so a failed copy truncates nothing, and the price is only the bytes
the pane may write between that last read and the truncate (two calls in a row):
logrotate's `copytruncate` makes the same trade.
The truncated file then gets a `continued` header (model/log_header.py), so its first
run is still named.

A log on an ssh host (or in a container there) is out of reach of a stat here. The same
copy-truncate runs there as REMOTE_SCRIPT, a fixed script of ours on the target's shell
(sizes, count and paths arrive as its arguments, never parsed by a shell), one call per
target for all its logs, through the target's own prefix (`ssh HOST [docker exec C]`).
It copies with `cp` and truncates right after, so what the pane writes between the two
is lost, as with logrotate; a controller runs it every `LogSettings.remote_check_every`.

A layout deleted and applied again gets a new layout record but the same path
(`<layout>/<label>.log`, as FEAT-013 names it); before its first pane's pipe starts,
the predecessor's files are moved aside to `<label>.<old layout id>.log[.N]` and the old
pane records follow them, so `logs` of an old pane still reads its own output.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agenttower.model.log_header import CONTINUED, PREFIX, last_header
from agenttower.runtime.calls import Calls, OutOfTime
from agenttower.runtime.target import ExecTarget
from agenttower.settings import LogSettings


@dataclass(frozen=True)
class Rotated:
    path: Path
    size: int  # bytes moved into `<path>.1` (or dropped, when no file is kept)
    kept: int  # rotated files beside it now


def rotated_name(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def rotate(path: Path, limits: LogSettings) -> Rotated | None:
    """Rotate `path` if it is past the cap; None when it is not, or could not be (it is
    then left whole: the copy is written before anything is truncated)."""
    try:
        if path.stat().st_size <= limits.max_bytes:
            return None
        with path.open("rb") as handle:
            data = handle.read()
            if limits.keep > 0:
                _shift(path, limits.keep)
                _write_new(rotated_name(path, 1), data)
            rest = handle.read()  # what the pane wrote while the copy was written
            os.truncate(path, 0)  # right after that read: the pane's bytes in between are lost
    except OSError:
        return None
    data += rest
    if limits.keep > 0 and rest:
        _append(rotated_name(path, 1), rest)
    header = last_header(data)
    if header is not None:
        _append(path, f"\n{header.continued_line()}\n".encode())
    kept = sum(1 for index in range(1, limits.keep + 1) if rotated_name(path, index).exists())
    return Rotated(path, len(data), kept)


def _shift(path: Path, keep: int) -> None:
    """.1 -> .2 ... up to `keep`; the oldest is overwritten."""
    for index in range(keep - 1, 0, -1):
        older = rotated_name(path, index)
        if older.exists():
            os.replace(older, rotated_name(path, index + 1))


def rotate_all(paths: Iterable[str | Path], limits: LogSettings) -> list[Rotated]:
    """Every pass asks this of every live pane's log: one `os.stat` of the path as text
    each (a Path per pane per pass was a third of a 1,000-pane no-op pass), and only a
    log past its cap goes on to `rotate`."""
    return [done for path in paths if _past_cap(path, limits) and (done := rotate(Path(path), limits))]


def _past_cap(path: str | Path, limits: LogSettings) -> bool:
    try:
        return os.stat(path).st_size > limits.max_bytes
    except OSError:
        return False


def aside_name(path: Path, old_layout_id: str) -> Path:
    return path.with_name(f"{path.stem}.{old_layout_id}{path.suffix}")


def set_aside(path: Path, old_layout_id: str) -> Path | None:
    """Move a predecessor layout's log (and its rotated files) out of the way of a new
    layout of the same name; returns where the log went (None: there was none)."""
    moved = None
    for current in (path, *sorted(path.parent.glob(f"{path.name}.[0-9]*"))):
        suffix = current.name.removeprefix(path.name)
        target = aside_name(path, old_layout_id).with_name(aside_name(path, old_layout_id).name + suffix)
        try:
            os.replace(current, target)
        except OSError:  # gone already, or not ours to move (a container's dir): left as it is
            continue
        if current == path:
            moved = target
    return moved


def _write_new(path: Path, data: bytes) -> None:
    with open(path, "wb", opener=lambda name, flags: os.open(name, flags, 0o600)) as handle:
        handle.write(data)


def _append(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


MARK = "agenttower-rotated"
_CONTINUED_SED = CONTINUED.replace("(", "[(]").replace(")", "[)]")
# $1: the cap in bytes, $2: rotated files kept, then the logs as the records name them
# (`~/...`: below the login's home, or the container user's)
REMOTE_SCRIPT = f"""
max=$1 keep=$2; shift 2
for named do
  case $named in "~/"*) f="$HOME/${{named#??}}";; *) f=$named;; esac
  [ -f "$f" ] || continue
  size=$(wc -c < "$f") || continue
  size=$((size))
  [ "$size" -gt "$max" ] || continue
  if [ "$keep" -gt 0 ]; then
    i=$((keep - 1))
    while [ "$i" -ge 1 ]; do
      if [ -f "$f.$i" ]; then mv -f "$f.$i" "$f.$((i + 1))" || continue 2; fi
      i=$((i - 1))
    done
    cp "$f" "$f.1" || continue
  fi
  header=$(grep -a '^{PREFIX}' "$f" | tail -n 1)
  : > "$f" || continue
  if [ -n "$header" ]; then
    header=$(printf '%s' "$header" | sed -e 's/{_CONTINUED_SED} ---$/ ---/' -e 's/ ---$/{CONTINUED} ---/')
    printf '\\n%s\\n' "$header" >> "$f"
  fi
  kept=0 i=1
  while [ "$i" -le "$keep" ]; do [ -f "$f.$i" ] && kept=$((kept + 1)); i=$((i + 1)); done
  printf '{MARK} %s %s %s\\n' "$size" "$kept" "$named"
done
"""
REMOTE_TIMEOUT_S = 30.0  # copying a few 5 MiB logs on a slow disk; a silent host: try again later


def rotate_remote(
    target: ExecTarget, paths: Sequence[str], limits: LogSettings, calls: Calls
) -> list[Rotated]:
    """The logs of `paths` on `target` (an ssh host, or a container there) past their cap,
    rotated there in one call; [] when none was, or the target did not answer (nothing
    was concluded: the next check asks again)."""
    if not paths:
        return []
    argv = target.command("sh", "-s", "--", str(limits.max_bytes), str(limits.keep), *paths)
    try:
        timeout = calls.timeout(REMOTE_TIMEOUT_S)
        proc = calls.run(argv, REMOTE_SCRIPT, timeout, target.environment(), target.key)
    except (OutOfTime, subprocess.TimeoutExpired, OSError):
        return []
    return parse_remote(proc.stdout) if proc.returncode == 0 else []


def parse_remote(stdout: str) -> list[Rotated]:
    done = []
    for line in stdout.splitlines():
        mark, _, rest = line.partition(" ")
        size, _, rest = rest.partition(" ")
        kept, _, path = rest.partition(" ")
        if mark == MARK and size.isdigit() and kept.isdigit() and path:
            done.append(Rotated(Path(path), int(size), int(kept)))
    return done
