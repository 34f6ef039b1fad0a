"""The last lines exited agents printed, read from their dead panes in one tmux call.

remain-on-exit keeps a dead pane's screen, so when a pass (or a launch probe) sees
agents exited it reads them all in one batch per target, with some history (`-S`: a
short pane scrolls the first lines of an error off its screen) and wrapped lines
joined (`-J`), before anything respawns the pane. What is kept is bounded
(model/last_output.py). Nothing captured (a target that did not answer) is no output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agenttower.model.last_output import MAX_LINES, from_screen
from agenttower.runtime import screen
from agenttower.runtime.tmux import Tmux

HISTORY_LINES = MAX_LINES * 3  # the screen's own rows plus this much scrollback


def capture(tmux: Tmux, pane_ids: Sequence[str]) -> Mapping[str, str]:
    """tmux pane id -> its last output (bounded); {} for nothing to read or no answer."""
    screens = screen.capture(tmux, pane_ids, history=HISTORY_LINES)
    return {pane: from_screen(text) for pane, text in screens.items()}
