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
"""

from __future__ import annotations

import zlib

from .quoting import command_line

# a pane's process exited (remain-on-exit keeps the pane), a pane closed, a pane or a
# window or a session killed by hand: every way a managed pane can change behind our back
EVENTS = ("pane-died", "pane-exited", "after-kill-pane", "window-unlinked", "session-closed")
FIRST_INDEX = 4200  # far above the indices people write by hand (0, 1, 2 ...)


def channel(owner: str) -> str:
    return f"agenttower-{owner}"


def index(owner: str) -> int:
    return FIRST_INDEX + zlib.crc32(owner.encode()) % 700


def install_lines(owner: str) -> list[str]:
    signal = f"wait-for -S {channel(owner)}"
    return [command_line(["set-hook", "-g", f"{event}[{index(owner)}]", signal]) for event in EVENTS]


def remove_lines(owner: str) -> list[str]:
    return [command_line(["set-hook", "-gu", f"{event}[{index(owner)}]"]) for event in EVENTS]
