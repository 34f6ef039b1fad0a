"""The FEAT-013 state machine: pane states, failed stages, allowed transitions, aggregate.

Kept here, below every layer, so the store can refuse an illegal transition whoever
asks for it, and the planner and the CLI agree on what a layout's state is.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class State(StrEnum):
    CREATING = "creating"
    READY = "ready"
    DEGRADED = "degraded"
    FAILED = "failed"
    REMOVED = "removed"


class Stage(StrEnum):
    PANE_CREATE = "pane_create"
    LAUNCH_COMMAND = "launch_command"
    REGISTRATION = "registration"
    LOG_ATTACH = "log_attach"
    TMUX_KILL = "tmux_kill"
    RECOVERY_REATTACH = "recovery_reattach"
    READINESS = "readiness"  # the profile's readiness pattern did not show within its timeout


class Actor(StrEnum):
    """Who did it: what an event's `actor` and a removed pane's `removedBy` say."""

    OPERATOR = "operator"  # a verb asked for it (apply, delete, remove, recreate)
    CONTROLLER = "controller"  # the reconciler decided it (a prune, a restart, a health mark)


NON_TERMINAL = frozenset({State.CREATING, State.READY, State.DEGRADED})
TERMINAL = frozenset({State.FAILED, State.REMOVED})

ALLOWED: dict[State, frozenset[State]] = {
    State.CREATING: frozenset({State.READY, State.DEGRADED, State.FAILED}),
    State.READY: frozenset({State.DEGRADED, State.FAILED, State.REMOVED}),
    State.DEGRADED: frozenset({State.FAILED, State.REMOVED}),
    State.FAILED: frozenset({State.REMOVED}),
    State.REMOVED: frozenset(),
}


def can_transition(current: State | str, new: State | str) -> bool:
    return State(new) in ALLOWED[State(current)]


def layout_state(pane_states: Iterable[State | str]) -> State:
    """Any creating -> creating; any failed -> failed; any degraded -> degraded;
    all removed (or none) -> removed; else ready."""
    states = {State(s) for s in pane_states}
    for state in (State.CREATING, State.FAILED, State.DEGRADED):
        if state in states:
            return state
    if not states or states == {State.REMOVED}:
        return State.REMOVED
    return State.READY
