"""Restarts by policy: which ended panes want one, and when back-off lets it happen.

Kubelet's CrashLoopBackOff shape, tuned for agents: the first restart in a row is
immediate, a loop waits base * 2^(n-1) capped, and a run that stayed ready for the
stability window starts the count (and the chain) over. Pure functions of a record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agenttower.model.durations import parse_time, rfc3339
from agenttower.model.last_output import fatal_line, last_line
from agenttower.model.lifecycle import Stage, State
from agenttower.settings import RestartSettings, Settings
from agenttower.store.records import PaneRecord

RESTARTABLE = frozenset(
    {Stage.LAUNCH_COMMAND, Stage.RECOVERY_REATTACH, Stage.PANE_CREATE, Stage.REGISTRATION}
)


def stayed_ready(pane: PaneRecord, settings: RestartSettings) -> bool:
    """Ready for the stability window before it ended: its crash is not part of a loop."""
    if not pane.ready_at or not pane.ended_at:
        return False
    return parse_time(pane.ended_at) - parse_time(pane.ready_at) >= settings.stable_after


def next_depth(pane: PaneRecord, settings: RestartSettings) -> int:
    """A successor's chain depth: +1, or 0 after a predecessor that stayed ready long enough."""
    return 0 if stayed_ready(pane, settings) else pane.chain_depth + 1


def depth_after(pane: PaneRecord, settings: RestartSettings, now: datetime) -> int:
    """A successor's depth when an operator ends `pane` now: a live pane has no end yet,
    so one that has been ready for the stability window starts the chain over."""
    ended = pane if pane.ended_at else replace(pane, ended_at=rfc3339(now))
    return next_depth(ended, settings)


def backoff_delay(restarts_in_a_row: int, settings: RestartSettings) -> timedelta:
    """Kubelet's shape for agents: the first restart after a stable run is immediate
    (an agent that crashed once should be back before anyone notices); only a loop
    waits, base * 2^(n-1) for the restart after n in a row, capped."""
    if restarts_in_a_row <= 0:
        return timedelta(0)
    delay = settings.backoff_base
    for _ in range(min(restarts_in_a_row - 1, 64)):  # doubling stops at the cap: no overflow
        if delay >= settings.backoff_max:
            break
        delay *= 2
    return min(delay, settings.backoff_max)


@dataclass(frozen=True)
class RestartTiming:
    """When a restart by policy of an ended pane may happen, and what its successor is."""

    depth: int  # the successor's chain depth (FEAT-013's limit counts it)
    restarts_in_a_row: int  # restarts already made since the slot last ran stably
    delay: timedelta
    due: datetime | None  # ended + delay; None: no end recorded, nothing to wait for

    def held(self, now: datetime) -> bool:
        return self.due is not None and self.due > now


def restart_timing(pane: PaneRecord, settings: RestartSettings) -> RestartTiming:
    """A pane that stayed ready for the stability window starts its slot's count over
    (restart at once, successor at depth 0); any other counts one more in a row."""
    stable = stayed_ready(pane, settings)
    n = 0 if stable else pane.restarts_in_a_row
    delay = backoff_delay(n, settings)
    due = parse_time(pane.ended_at) + delay if pane.ended_at else None
    return RestartTiming(next_depth(pane, settings), n, delay, due)


def wants_restart(policy: str, pane: PaneRecord) -> bool:
    if policy == "Never" or pane.failed_stage not in RESTARTABLE:
        return False
    if pane.state == State.DEGRADED and pane.failed_stage != Stage.LAUNCH_COMMAND:
        return False  # degraded for its log only: the agent still runs
    if pane.state not in (State.DEGRADED, State.FAILED):
        return False
    return not (policy == "OnFailure" and pane.failed_stage == Stage.LAUNCH_COMMAND and pane.exit_code == 0)


def held_until(policy: str, pane: PaneRecord, settings: Settings) -> str | None:
    """When back-off lets the restart of `pane` happen, as `get` shows it: None when no
    restart is wanted, the restart limit ended the chain, or the restart is immediate.
    What the controller recorded wins (it may run with other settings than the reader)."""
    if not wants_restart(policy, pane):
        return None
    timing = restart_timing(pane, settings.restarts)
    if timing.depth > settings.panes.chain_limit or timing.delay <= timedelta(0) or timing.due is None:
        return None
    return pane.next_restart_at or rfc3339(timing.due)


@dataclass(frozen=True)
class CrashLoop:
    """The same failure twice in a row: the same exit code and the same last line on
    screen, compared as recorded (no reason string is parsed). `reason` is the line an
    agent kind names as fatal if one matches, else the last line printed."""

    exit_code: int
    last_line: str
    reason: str


def crash_loop(
    pane: PaneRecord, predecessor: PaneRecord | None, settings: RestartSettings
) -> CrashLoop | None:
    """Whether `pane` (exited) failed just as its predecessor did, so a restart would only
    fail again: both exited non-zero at launch_command with the same code and the same
    last line, and the predecessor did not run stably in between.

    A blank screen is not another failure: tmux before 3.7 may drop what a process wrote
    just before it exited at once (it closes the pty on SIGCHLD while the kernel still
    holds the last bytes; tmux's GitHub issue 4807), so one of the two runs with no line
    counts as the same when the codes match, shown with the line the other printed. Two
    silent exits are never held (no reason to show): back-off and the chain limit apply."""
    if predecessor is None or stayed_ready(predecessor, settings):
        return None
    for p in (pane, predecessor):
        if p.failed_stage != Stage.LAUNCH_COMMAND or p.exit_code in (None, 0):
            return None
    if pane.exit_code != predecessor.exit_code:
        return None
    now, before = last_line(pane.last_output), last_line(predecessor.last_output)
    line = now or before
    if line is None or (now is not None and before is not None and now != before):
        return None
    assert pane.exit_code is not None
    said = fatal_line(pane.last_output if now else predecessor.last_output) or line
    reason = f"failed the same way twice in a row (exit {pane.exit_code}): {said}"
    return CrashLoop(pane.exit_code, line, reason)
