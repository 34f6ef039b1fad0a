"""The entry point's contract that needs no tmux: what a wire request may ask, and when
a pass asks for the next one."""

from __future__ import annotations

import pytest

from agenttower.model.errors import AgentTowerError
from agenttower.model.lifecycle import Stage, State
from agenttower.reconcile.actions import Action, Kind, Mark, Note, NoteKind, Plan, Resource, Settle
from agenttower.reconcile.reconciler import Op, Request, requeue_after
from agenttower.settings import Settings

SLOT = Resource("host", "team", "s1", "pane_1")
MARK = Action(Kind.MARK_PANE, SLOT, "pane vanished from tmux", Mark(State.FAILED, Stage.RECOVERY_REATTACH))
SETTLE = Action(Kind.SETTLE_PANE, SLOT, "pending marker left set", Settle("%1"))


def test_a_wire_request_names_a_verb_and_never_a_pass() -> None:
    assert Request.from_wire({"op": "remove", "pane": "team/s1"}).op is Op.REMOVE
    for op in ("pass", "diff", "nope", None):
        with pytest.raises(AgentTowerError) as info:
            Request.from_wire({"op": op})
        assert info.value.code == "validation_failed"


def test_a_pass_requeues_after_acting_and_at_once_after_only_marking() -> None:
    settings = Settings()
    assert requeue_after(settings, Plan()) is None  # quiet: the resync will do
    assert requeue_after(settings, Plan((MARK,))) == 0.0  # the restart follows at once
    assert requeue_after(settings, Plan((MARK, SETTLE))) == settings.loop.after_actions
    wave = Plan(
        (MARK,), notes=(Note("team", "restart waits for the next recovery wave", NoteKind.WAVE, "s2"),)
    )
    delay = requeue_after(settings, wave)
    assert delay is not None
    jitter = settings.restarts.recovery_jitter
    assert settings.loop.after_actions <= delay <= settings.loop.after_actions + jitter


def test_an_action_renders_as_the_line_diff_prints() -> None:
    assert str(MARK) == "mark pane team/s1 failed (recovery_reattach)  # pane vanished from tmux"
    assert MARK.to_wire() == {
        "action": "mark pane team/s1 failed (recovery_reattach)",
        "target": "host",
        "cause": "pane vanished from tmux",
    }
    assert [k.phase for k in Kind] == sorted(k.phase for k in Kind)  # declared in the order they run
