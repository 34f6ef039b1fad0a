"""What agenttower installs in a tmux server so that the server tells it of changes.

tmux can announce a change instead of waiting to be polled: a hook that runs
`wait-for -S CHANNEL` wakes a client blocked in `wait-for CHANNEL` within ~50 ms, and a
signal sent while no client waits is remembered, so no wake-up is lost between two
waits (PITFALLS.md). That was chosen over control mode (`tmux -C`): it needs no
long-lived parser of tmux's notification protocol, works the same through `docker exec`
as on the host, and costs one idle client per server.

Hooks are arrays: ours go under one index derived from the owner id, so they are
appended beside the user's own (which keep running) and two installations sharing a
server do not overwrite each other; the channel carries the owner id too. They are
removed again, by that index only, when the last managed pane leaves the server.

Debian's tmux loses the exit of some panes: libutempter swaps in its own SIGCHLD
handler while it removes the pane's utmp record at the pty's close, and a SIGCHLD
that lands then is gone; with remain-on-exit tmux runs `pane-died` only once it has
the exit status, so it never does, until any other child of the server exits and it
reaps every zombie. So the wait runs beside a nudger, in the target (`sh -c`, inside
the container for one): every NUDGE_S it runs `run-shell true` (no listing, no
state), so a lost exit is heard within that time. One `docker exec` holds both, so a
container's nudges cost no exec (each one costs ~5 ms of CPU there: `sleep`, a tmux
client, the server's `sh -c true`). The wait is never cut short for a nudge: a signal
delivered to a client being killed is lost. It ends by itself after `lifetime`
(exit WAIT_EXPIRED; the caller starts the next), so a nudger whose `docker exec`
client died (killing a `docker exec` client does not stop what runs inside) outlives
it by no more than that.
"""

from __future__ import annotations

import shlex
import zlib
from collections.abc import Sequence

from .quoting import command_line

# a pane's process exited (remain-on-exit keeps the pane), a pane closed, a pane or a
# window or a session killed by hand: every way a managed pane can change behind our back
EVENTS = ("pane-died", "pane-exited", "after-kill-pane", "window-unlinked", "session-closed")
FIRST_INDEX = 4200  # far above the indices people write by hand (0, 1, 2 ...)
NUDGE_S = 2.0
WAIT_EXPIRED = 75  # the waiter's lifetime ended without an event (EX_TEMPFAIL)
# $1 = the lifetime in nudges; the tmux argv prefix is spliced in, quoted. The nudger
# stops on its own when the server is gone (its run-shell fails): the wait fails too.
_WAITER = """
{tmux} wait-for {channel} & wait=$!
( i=0
  while [ "$i" -lt "$1" ]; do
    sleep {nudge}; {tmux} run-shell true >/dev/null 2>&1 || exit 0; i=$((i + 1))
  done
  kill "$wait" 2>/dev/null; exit {expired} ) </dev/null >/dev/null 2>&1 &
nudger=$!
wait "$wait"; rc=$?
kill "$nudger" 2>/dev/null
wait "$nudger" 2>/dev/null; [ "$?" -eq {expired} ] && exit {expired}
exit "$rc"
"""


def channel(owner: str) -> str:
    return f"agenttower-{owner}"


def index(owner: str) -> int:
    return FIRST_INDEX + zlib.crc32(owner.encode()) % 700


def install_lines(owner: str) -> list[str]:
    signal = f"wait-for -S {channel(owner)}"
    return [command_line(["set-hook", "-g", f"{event}[{index(owner)}]", signal]) for event in EVENTS]


def remove_lines(owner: str) -> list[str]:
    return [command_line(["set-hook", "-gu", f"{event}[{index(owner)}]"]) for event in EVENTS]


def waiter_words(tmux: Sequence[str], owner: str, lifetime: float) -> list[str]:
    """One blocked `wait-for` on our channel with its nudger beside it, as words to run in
    the target (through its exec prefix: `docker exec`, ssh); `tmux` is the tmux argv
    there (`tmux -u [-L S]`). Exits 0 on a signal, WAIT_EXPIRED after `lifetime`,
    anything else when the server is gone."""
    script = _WAITER.format(
        tmux=shlex.join(tmux), channel=shlex.quote(channel(owner)), nudge=NUDGE_S, expired=WAIT_EXPIRED
    )
    nudges = max(1, int(lifetime / NUDGE_S))
    return ["sh", "-c", script, "agenttower-listen", str(nudges)]
