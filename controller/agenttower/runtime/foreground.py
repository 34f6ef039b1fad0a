"""What a pane is running now: the argv of the foreground process group of its terminal.

`pane_current_command` is only a name (`top`); re-creating a pane needs its arguments
too. One POSIX sh script reads `/proc` where the pane runs, through the target's exec
prefix (nothing on the host, `docker exec -i CONTAINER` for a container), as
runtime/processes.py does: the pane's pid, its terminal's foreground group (`tpgid`,
the 6th field after the command name in `/proc/PID/stat`) and that leader's cmdline.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from .target import ExecTarget

TIMEOUT_S = 10.0
ARG_SEPARATOR = "\x1f"

# $@: pane pids. Output: one line per pid, `PID<TAB>arg<US>arg...` (empty when unreadable)
SCRIPT = r"""
for p; do
  t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f6)
  case "$t" in ''|-1|0) t=$p;; esac
  [ -r "/proc/$t/cmdline" ] || t=$p
  printf '%s\t' "$p"; tr '\0' '\037' < "/proc/$t/cmdline" 2>/dev/null; printf '\n'
done
"""


def foreground_argv(target: ExecTarget, pids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """pid -> the argv its terminal's foreground process runs (a login shell's `-bash`
    as `bash`); a pid whose /proc cannot be read is left out."""
    if not pids:
        return {}
    argv = target.command("sh", "-c", SCRIPT, "agenttower-foreground", *pids)
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=target.environment(), check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for line in proc.stdout.splitlines():
        pid, _, raw = line.partition("\t")
        args = [a for a in raw.rstrip(ARG_SEPARATOR).split(ARG_SEPARATOR)] if raw else []
        if args and args[0]:
            found[pid] = (args[0].lstrip("-"), *args[1:])
    return found
