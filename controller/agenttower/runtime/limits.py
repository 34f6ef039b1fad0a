"""Open files: how many panes one tmux server can hold.

A tmux server holds a few descriptors per managed pane (its pty, its log pipe, the pipe
process's end); at the usual soft limit of 1,024 a server hit 1,023 descriptors near 508
piped panes and its clients hung without a word (PITFALLS.md). A server inherits the
limits of the client that started it, so agenttower raises its own soft limit to the
hard limit before it runs tmux: the servers it starts can hold what the capacity allows
(40 layouts). A server that someone else started keeps its own limit, which `doctor`
reads from /proc and compares with the panes that server is asked to hold.
"""

from __future__ import annotations

import resource
from pathlib import Path

PER_PANE = 3  # pty + log pipe + slack
SPARE = 64  # the server's own: sockets, clients, config


def needed(panes: int) -> int:
    return panes * PER_PANE + SPARE


def raise_open_files() -> int:
    """Soft limit up to the hard one (children inherit it); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
        except (ValueError, OSError):
            return soft
    return soft


def server_limit(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The soft open-files limit of a (host) process, or None when it cannot be read."""
    try:
        text = (proc / str(pid) / "limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None
