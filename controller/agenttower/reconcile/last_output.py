"""The last lines exited agents printed, read from their dead panes in one tmux call.

remain-on-exit keeps a dead pane's screen, so when a pass (or a launch probe) sees
agents exited it reads them all in one batch per target, with some history (`-S`: a
short pane scrolls the first lines of an error off its screen) and wrapped lines
joined (`-J`), before anything respawns the pane. What is kept is bounded
(model/last_output.py). Nothing captured (a target that did not answer) is no output.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from agenttower.model.last_output import MAX_LINES, from_screen
from agenttower.runtime.quoting import command_line
from agenttower.runtime.screen import split_screens
from agenttower.runtime.tmux import Tmux, TransientError

HISTORY_LINES = MAX_LINES * 3  # the screen's own rows plus this much scrollback


def _lines(pane_ids: Sequence[str], nonce: str) -> list[str]:
    return [
        command_line(
            ["display-message", "-p", "-t", pane_id, f"agenttower-screen-{nonce} #{{pane_id}}"],
            ["capture-pane", "-p", "-J", "-S", f"-{HISTORY_LINES}", "-t", pane_id],
        )
        for pane_id in pane_ids
    ]


def capture(tmux: Tmux, pane_ids: Sequence[str]) -> Mapping[str, str]:
    """tmux pane id -> its last output (bounded); {} for nothing to read or no answer."""
    if not pane_ids:
        return {}
    nonce = secrets.token_hex(6)
    try:
        result = tmux.source(_lines(pane_ids, nonce))
    except TransientError:
        return {}
    return {pane: from_screen(screen) for pane, screen in split_screens(result.stdout, nonce).items()}
