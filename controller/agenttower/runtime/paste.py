"""Typing text into a pane the way a terminal pastes it, and seeing whether it arrived.

The text travels on the stdin of `tmux load-buffer -` (never in an argv, so neither `ps`
nor a shell ever sees it, and `docker exec -i` carries it into a container unchanged),
then `paste-buffer -p` writes it inside bracketed-paste markers when the application
asked for them, so an agent takes newlines, quotes and `$()` as text, not as keys. The
buffer has a name of its own per send and `-d` deletes it once pasted, so two sends
never paste each other's text and nothing is left in the server.

Enter is a separate `send-keys`, after a pause: Codex takes an Enter that arrives within
~120 ms of a paste as a newline in the text (its paste-burst detection), not as submit.

Delivery is confirmed from the screen: the pane's visible lines after the Enter (or,
with no Enter, after the paste) differ from what they were just before it. A screen
that did not change within the wait is reported as unconfirmed, not as an error: the
text may still have arrived (an agent that draws nothing for a paste).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .tmux import RunResult, Tmux

POLL_S = 0.1


class Outcome(StrEnum):
    CONFIRMED = "confirmed"  # the screen changed after the paste (or its Enter)
    UNCONFIRMED = "unconfirmed"  # pasted, but the screen stayed as it was
    NOT_PASTED = "not_pasted"  # tmux refused (the pane went away): nothing was typed


@dataclass(frozen=True)
class Delivery:
    tmux_pane_id: str
    length: int  # characters
    sha256: str  # of the UTF-8 text: what an event may say about it
    entered: bool
    outcome: Outcome
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.CONFIRMED


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _screen(result: RunResult) -> str:
    return result.stdout


def paste(
    tmux: Tmux,
    tmux_pane_id: str,
    text: str,
    *,
    enter: bool,
    enter_delay: float,
    confirm_within: float,
    sleep: Callable[[float], None],
) -> Delivery:
    """Paste `text` into the pane, then Enter unless `enter` is false. Costs one tmux
    call for capture + load + paste, one for capture + Enter, then one per look at the
    screen until it changed (at most `confirm_within / POLL_S`)."""
    buffer = f"agenttower-send-{uuid.uuid4().hex[:12]}"
    target = ["-t", tmux_pane_id]
    made = Delivery(tmux_pane_id, len(text), digest(text), enter, Outcome.NOT_PASTED)
    first = tmux.run(
        [
            *("capture-pane", "-p", *target),
            ";",
            *("load-buffer", "-b", buffer, "-"),
            ";",
            *("paste-buffer", "-p", "-d", "-b", buffer, *target),
        ],
        stdin=text,
    )
    if first.returncode != 0:
        tmux.run(["delete-buffer", "-b", buffer])  # loaded but not pasted: not left behind
        return _replace(made, Outcome.NOT_PASTED, first.stderr.strip())
    before = _screen(first)
    sleep(enter_delay)
    if enter:
        second = tmux.run(["capture-pane", "-p", *target, ";", "send-keys", *target, "Enter"])
        if second.returncode != 0:
            return _replace(made, Outcome.UNCONFIRMED, second.stderr.strip())
        before = _screen(second)  # the pasted text as drawn: the Enter must change it
    looks = max(round(confirm_within / POLL_S), 1)
    for look in range(looks):
        now = tmux.run(["capture-pane", "-p", *target])
        if now.returncode == 0 and _screen(now) != before:
            return _replace(made, Outcome.CONFIRMED)
        if look + 1 < looks:
            sleep(POLL_S)
    return _replace(made, Outcome.UNCONFIRMED, f"the screen did not change within {confirm_within:g}s")


def _replace(delivery: Delivery, outcome: Outcome, error: str = "") -> Delivery:
    return Delivery(delivery.tmux_pane_id, delivery.length, delivery.sha256, delivery.entered, outcome, error)
