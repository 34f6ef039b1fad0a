"""Reading what panes show: every pane of a target captured by one tmux invocation.

One `source-file -` batch holds, per pane, a `display-message -p` marker line naming
the pane and its `capture-pane -p` (the visible screen, as tmux itself renders it: no
terminal emulation here). The output is split at the markers, which carry a nonce of
this call so no screen can forge one. A pane that is gone makes only its own line
fail (each line of a batch is independent): its marker names no pane and it is left
out of the answer, never shown as an empty screen.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from .quoting import command_line
from .tmux import Tmux, TransientError


def capture_lines(pane_ids: Sequence[str], nonce: str, history: int = 0) -> list[str]:
    """One line per pane: its marker, then its screen, in the same command sequence (a
    missing pane fails its marker and so skips its capture too). `history` > 0 adds that
    many scrollback lines, wrapped lines joined (`-J`)."""
    scrollback = ["-J", "-S", f"-{history}"] if history > 0 else []
    return [
        command_line(
            ["display-message", "-p", "-t", pane_id, f"{_marker(nonce)} #{{pane_id}}"],
            ["capture-pane", "-p", *scrollback, "-t", pane_id],
        )
        for pane_id in pane_ids
    ]


def _marker(nonce: str) -> str:
    return f"agenttower-screen-{nonce}"


def split_screens(stdout: str, nonce: str) -> dict[str, str]:
    """tmux pane id -> its screen, from the batch's output (trailing blank rows dropped)."""
    marker = _marker(nonce) + " "
    screens: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.split("\n"):
        if line.startswith(marker):
            current = screens.setdefault(line[len(marker) :].strip(), [])
        elif current is not None:
            current.append(line)
    # a pane that is gone prints its marker with an empty id (tmux expands the format
    # without a pane): never a screen
    return {pane: "\n".join(rows).rstrip("\n") for pane, rows in screens.items() if pane}


def capture(tmux: Tmux, pane_ids: Sequence[str], history: int = 0) -> Mapping[str, str]:
    """The screens of `pane_ids` (tmux `%N` ids) in one invocation, with `history` lines
    of scrollback; {} when there is nothing to capture or the target did not answer (no
    screen is not an empty one)."""
    if not pane_ids:
        return {}
    nonce = secrets.token_hex(6)
    try:
        result = tmux.source(capture_lines(pane_ids, nonce, history))
    except TransientError:
        return {}
    return split_screens(result.stdout, nonce)
