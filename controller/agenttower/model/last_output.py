"""What an exited agent printed last, as agenttower keeps it: its screen's last lines.

tmux keeps a dead pane's screen (remain-on-exit is on for managed panes) and writes
its own "Pane is dead (status N, TIME)" line under it; that line is tmux's, not the
agent's, so it is dropped. The rest is bounded (lines and characters) because it goes
on the record and into `describe`. Pure text functions: the capture is reconcile's
(a pane respawned in place has its screen cleared first: runtime/batch.py).
"""

from __future__ import annotations

import re

from .agents import AGENTS, AgentKind

MAX_LINES = 20
MAX_CHARS = 2000
_DEAD = re.compile(r"^Pane is dead \(.*\)$")


def from_screen(screen: str) -> str:
    """The agent's last lines: tmux's dead-pane line and blank rows at the end dropped,
    at most MAX_LINES lines and MAX_CHARS characters (the newest kept)."""
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and (not lines[-1] or _DEAD.match(lines[-1])):
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    text = "\n".join(lines[-MAX_LINES:])
    return text[-MAX_CHARS:]


def last_line(text: str | None) -> str | None:
    """The last non-blank line, or None when nothing was printed (or nothing captured)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def fatal_line(text: str | None, kinds: tuple[AgentKind, ...] = tuple(AGENTS.values())) -> str | None:
    """The first line an agent kind names as "cannot start at all" (offline, logged out)."""
    for line in (text or "").splitlines():
        for kind in kinds:
            if any(re.search(pattern, line) for pattern in kind.fatal):
                return line.strip()
    return None
