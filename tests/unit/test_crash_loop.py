"""Crash-loop sense: an agent that fails the same way twice in a row is held, not restarted.

"The same way" is typed: the same non-zero exit code at launch_command and the same last
line on screen (the record's `last_output`), compared as recorded; no reason string is
parsed. The planner is pure, so these are plain function tests plus a property.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from agenttower.model.last_output import MAX_CHARS, MAX_LINES, fatal_line, from_screen, last_line
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import DesiredLayout
from agenttower.reconcile.actions import CrashHold, Kind, NoteKind, Spawn
from agenttower.reconcile.status import compute
from agenttower.store.records import PaneRecord

from .test_plan import kinds, restarting, run, stamp
from .world import STAMP, World, pane_record

OFFLINE = "Unable to connect to Anthropic services\nFailed to connect to api.anthropic.com: ENOTFOUND"


def looping(
    last: str | None = OFFLINE,
    before: str | None = OFFLINE,
    code: int = 1,
    before_code: int = 1,
    **pred: object,
) -> tuple[World, DesiredLayout, PaneRecord]:
    """s1 exited (`code`, `last`) and its predecessor exited (`before_code`, `before`)."""
    world, team = restarting("Always", exit_code=code, last_output=last, chain_depth=1, restarts_in_a_row=1)
    current = world.panes[1]
    slot = team.pane("s1")
    assert slot is not None
    fields = {
        "failed_stage": Stage.LAUNCH_COMMAND,
        "exit_code": before_code,
        "last_output": before,
        "ended_at": stamp(-timedelta(seconds=30)),
        "created_at": "2026-01-01T11:59:00.000Z",
    } | pred
    predecessor = pane_record(current.layout_id, slot, 1, State.REMOVED, **fields)
    world.panes.append(predecessor)
    world.set_pane(current.id, predecessor_id=predecessor.id, ended_at=stamp(timedelta(0)))
    return world, team, predecessor


def test_the_same_failure_twice_fails_the_pane_and_holds_it_once() -> None:
    world, team, _ = looping()
    result = run(world, {"team": team})
    assert kinds(result) == [Kind.MARK_PANE, Kind.HOLD_CRASH_LOOP]
    reason = "failed the same way twice in a row (exit 1): Unable to connect to Anthropic services"
    assert [(n.kind, n.label, n.message) for n in result.notes] == [(NoteKind.CRASH_LOOP, "s1", reason)]
    hold = result.actions[1].detail
    assert hold == CrashHold(reason, 1, "Failed to connect to api.anthropic.com: ENOTFOUND")
    world.apply(result)
    assert world.panes[1].state == State.FAILED and world.panes[1].crash_loop == reason
    again = run(world, {"team": team})  # level-triggered: still held, nothing announced twice
    assert again.actions == () and [n.kind for n in again.notes] == [NoteKind.CRASH_LOOP]
    layout = world.layouts[0]
    conditions, _ = compute(layout, world.panes, again, {}, STAMP)
    stalled = next(c for c in conditions if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "CrashLoop")
    assert reason in stalled["message"]


def test_a_different_failure_is_restarted_as_before() -> None:
    for case in (
        looping(last="error: disk full"),  # another last line
        looping(code=2),  # another exit code
        looping(last=None, before=None),  # printed nothing: nothing to hold it on
        looping(code=0, before_code=0),  # not a failure
        looping(ready_at=stamp(-timedelta(hours=2))),  # the predecessor ran stably for long
    ):
        world, team, _ = case
        assert Kind.HOLD_CRASH_LOOP not in kinds(run(world, {"team": team}))


def test_a_blank_screen_is_the_same_failure_shown_with_the_line_the_other_run_printed() -> None:
    """tmux may drop the last bytes of a process that exits at once: a blank screen after
    a run that said why it failed, with the same exit code, is held on that run's line."""
    missing = "env: 'claude': No such file or directory"
    for last, before in ((None, missing), ("", missing), (missing, None)):
        world, team, _ = looping(last=last, before=before, code=127, before_code=127)
        result = run(world, {"team": team})
        assert kinds(result) == [Kind.MARK_PANE, Kind.HOLD_CRASH_LOOP]
        reason = f"failed the same way twice in a row (exit 127): {missing}"
        assert result.actions[1].detail == CrashHold(reason, 127, missing)
    world, team, _ = looping(last="", before=missing, code=1, before_code=127)
    assert Kind.HOLD_CRASH_LOOP not in kinds(run(world, {"team": team}))  # another exit code


def test_a_first_failure_has_no_predecessor_to_compare_and_restarts() -> None:
    world, team = restarting("Always", exit_code=1, last_output=OFFLINE)
    (action,) = run(world, {"team": team}).actions
    assert isinstance(action.detail, Spawn)


def test_a_manifest_change_of_the_pane_is_the_operator_acting_and_restarts_it() -> None:
    world, team, _ = looping()
    world.apply(run(world, {"team": team}))
    world.set_pane(world.panes[1].id, spec_hash="an older spec", ended_at=stamp(-timedelta(minutes=1)))
    (action,) = run(world, {"team": team}).actions  # past its back-off: restarted
    assert isinstance(action.detail, Spawn) and action.detail.replaces == world.panes[1].id


@given(
    st.sampled_from([1, 2, 127]),
    st.sampled_from([1, 2, 127]),
    st.sampled_from(["", "boom", "env: 'claude': No such file or directory"]),
    st.sampled_from(["", "boom", "env: 'claude': No such file or directory"]),
)
def test_property_held_exactly_when_code_and_last_line_repeat(
    code: int, before_code: int, last: str, before: str
) -> None:
    world, team, _ = looping(last or None, before or None, code, before_code)
    held = Kind.HOLD_CRASH_LOOP in kinds(run(world, {"team": team}))
    lost = not last or not before  # one screen blank: tmux may have dropped it (restarts.py)
    assert held == (code == before_code and (last or before) != "" and (lost or last == before))


def test_last_output_drops_tmux_s_dead_line_and_is_bounded() -> None:
    dead = "Pane is dead (status 127, Tue Dec  1 12:16:34 2026)"
    screen = f"\n\nhello\nenv: 'claude': No such file or directory\n\n\n{dead}\n"
    text = from_screen(screen)
    assert text == "hello\nenv: 'claude': No such file or directory"
    assert last_line(text) == "env: 'claude': No such file or directory"
    long = from_screen("\n".join(f"{i:04d} " + "x" * 300 for i in range(100)))
    assert len(long.splitlines()) <= MAX_LINES and len(long) <= MAX_CHARS
    assert long.endswith("0099 " + "x" * 300)  # the newest lines are kept
    assert last_line("") is None and last_line(None) is None


def test_fatal_lines_come_from_the_agent_kinds() -> None:
    assert fatal_line(OFFLINE) == "Unable to connect to Anthropic services"
    assert fatal_line("Segmentation fault") is None
