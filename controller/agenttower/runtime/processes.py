"""Stopping every process a managed pane started, not just the pane.

`kill-pane` (and a dying tmux server) only send SIGHUP: an agent that ignores it (Gemini
CLI does) survives, re-parented to init, keeps its working directory, and after a
restart two agents work on one checkout, one of them invisible. Every process a managed
pane starts carries `AGENTTOWER_PANE_ID=<record id>` in its environment (see
model/environment.py); children inherit it whatever process group or session they move
to, and a recycled pid cannot have it. So a record's processes are found by that exact
variable in `/proc/PID/environ`: what agenttower recorded, never a guess by name.

One POSIX sh script does it where the pane ran, through the target's own exec prefix
(nothing on the host, `docker exec -i CONTAINER` for a container, ssh, or both): psutil cannot see
into a container's pid namespace, and one mechanism for both keeps the rules in one
place. It runs through the session's calls (runtime/calls.py), as tmux does, so a
deadline bounds it and a stopping controller kills it. It sends TERM to each process
found and to the process group it leads, waits up to the grace period, sends KILL to
what is left, and reports what still lives. A zombie counts as gone (a container whose
PID 1 never reaps would keep it forever).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agenttower.model.environment import IDENTITY_PREFIX, PANE_ID_VARIABLE

from . import ssh
from .calls import Calls, OutOfTime
from .observe import ListingStatus, classify_failure
from .target import ExecTarget

TICK_S = 0.1
KILL_WAIT_TICKS = 20  # after KILL: up to 2 s for the kernel to take them

# $1: grace in ticks, $2: ticks after KILL, then record ids. Output, one per line:
#   found ID PID    a process of that record, signalled
#   alive PID       still there after KILL
SCRIPT = rf"""
grace=$1 after=$2; shift 2
printf 'a\0' | grep -z -x -F -e a >/dev/null 2>&1 || {{ echo 'grep -z is missing'; exit 3; }}
n=$#
for id in "$@"; do set -- "$@" -e "{PANE_ID_VARIABLE}=$id"; done
shift "$n"
found=$(grep -H -o -s -z -x -F "$@" /proc/[0-9]*/environ | tr '\0' '\n')
nl='
'
pids=
IFS=$nl
for line in $found; do
  p=${{line%%/environ:*}}; p=${{p#/proc/}}
  [ "$p" = "$$" ] || [ "$p" = "$PPID" ] && continue
  echo "found ${{line#*:{PANE_ID_VARIABLE}=}} $p"
  pids="$pids $p"
done
IFS=' '
[ -n "$pids" ] || exit 0
living() {{
  out=
  for p in $pids; do
    [ -r "/proc/$p/stat" ] || continue
    read -r st < "/proc/$p/stat" 2>/dev/null || continue
    st=${{st##*) }}
    [ "${{st%% *}}" = Z ] || out="$out $p"
  done
  pids=$out
}}
signal() {{ for p in $pids; do kill -s "$1" -- "-$p" 2>/dev/null; kill -s "$1" "$p" 2>/dev/null; done; }}
settle() {{
  i=0
  while [ "$i" -lt "$1" ]; do living; [ -n "$pids" ] || return 0; sleep {TICK_S}; i=$((i + 1)); done
  living
}}
signal TERM
settle "$grace"
[ -n "$pids" ] || exit 0
signal KILL
settle "$after"
for p in $pids; do echo "alive $p"; done
"""


@dataclass(frozen=True)
class Stopped:
    """What the script saw: `known` False means it could not look (nothing to conclude)."""

    known: bool
    found: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    survivors: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    error: str | None = None


def stop_processes(
    target: ExecTarget, record_ids: Sequence[str], grace: float, calls: Calls | None = None
) -> Stopped:
    """TERM, up to `grace` seconds, KILL: every process carrying one of `record_ids`. Run
    through the session's `calls`, so a verb's deadline bounds it and a stopping
    controller kills it like any tmux call."""
    if not record_ids:
        return Stopped(True)
    calls = calls or Calls()
    ticks = max(0, round(grace / TICK_S))
    argv = target.command("sh", "-s", "--", str(ticks), str(KILL_WAIT_TICKS), *record_ids)
    try:
        timeout = calls.timeout(grace + KILL_WAIT_TICKS * TICK_S + 15)
        proc = calls.run(argv, SCRIPT, timeout, _environment(target), target.key)
    except OutOfTime:
        return Stopped(False, error="no time left before the deadline to stop the pane's processes")
    except subprocess.TimeoutExpired:
        return Stopped(False, error="stopping the pane's processes did not finish in time")
    except OSError as exc:
        return Stopped(False, error=f"cannot run {argv[0]}: {exc.strerror}")
    if proc.returncode != 0:
        return _failed(target, proc.returncode, proc.stdout + proc.stderr)
    return _parse(proc.stdout)


def _environment(target: ExecTarget) -> dict[str, str]:
    """Without our own identity variables: when agenttower runs inside a managed pane, the
    script and its grep must not carry that pane's marker (they would find themselves)."""
    return {k: v for k, v in target.environment().items() if not k.startswith(IDENTITY_PREFIX)}


def _failed(target: ExecTarget, returncode: int, output: str) -> Stopped:
    """A container that is stopped or gone has no processes left; anything else (an ssh
    host that could not be asked first of all) is unknown."""
    if target.is_ssh and ssh.failure(returncode, output, target.is_container) is not None:
        return Stopped(False, error=output.strip() or "ssh failed")
    if target.is_container:
        listing = classify_failure(target.key, output, container=True)
        if listing.status is ListingStatus.EMPTY and listing.unavailable is not None:
            return Stopped(True)
    return Stopped(False, error=output.strip() or "stopping processes failed")


def _parse(stdout: str) -> Stopped:
    found: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    alive: dict[str, list[int]] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "found" and words[2].isdigit():
            found.setdefault(words[1], []).append(int(words[2]))
            owner[int(words[2])] = words[1]
        elif len(words) == 2 and words[0] == "alive" and words[1].isdigit():
            pid = int(words[1])
            alive.setdefault(owner.get(pid, ""), []).append(pid)
    return Stopped(
        True,
        {k: tuple(v) for k, v in found.items()},
        {k: tuple(v) for k, v in alive.items()},
    )
