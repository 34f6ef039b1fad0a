"""The planner's initialInput rule: typed once per slot, once the slot's pane has been
ready for the delay, and never for a slot the store says was typed already."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agenttower.model.lifecycle import State
from agenttower.reconcile.actions import Input, Kind, Plan
from agenttower.reconcile.plan import plan
from agenttower.settings import SendSettings, Settings
from tests.manifests import layout, profile

from .test_plan import converged, desired, stamp
from .world import NOW, OWNER, World

SOLO = [{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "p", "initialInput": "go"}]
TEAM = desired(layout("solo", None, panes=SOLO), profile("p", ["sh"]))["solo"]
SETTINGS = Settings(send=SendSettings(initial_delay=timedelta(seconds=2)))


def _plan(world: World, typed: frozenset[tuple[str, str]] = frozenset()) -> Plan:
    snapshot = replace(world.snapshot(), inputs=typed)
    return plan({"solo": TEAM}, snapshot, world.listings(), OWNER, NOW, settings=SETTINGS)


def _ready_since(seconds: float) -> World:
    world = converged(TEAM)
    world.set_pane(world.panes[0].id, ready_at=stamp(-timedelta(seconds=seconds)))
    return world


def test_a_ready_slot_gets_its_initial_input_once_the_delay_passed() -> None:
    world = _ready_since(3)
    (action,) = _plan(world).actions
    assert action.kind is Kind.SEND_INPUT and action.detail == Input("%0", "go")
    assert str(action) == "type the initial input of solo/m1 (2 characters)  # initialInput"


def test_not_before_the_delay_and_the_pass_comes_back_then() -> None:
    world = _ready_since(0.5)
    result = _plan(world)
    assert result.actions == () and result.requeue_at == NOW + timedelta(seconds=1.5)


def test_never_again_for_a_slot_typed_already_whatever_record_speaks_for_it() -> None:
    world = _ready_since(3)
    layout_id = world.layouts[0].id
    assert _plan(world, frozenset({(layout_id, "m1")})).actions == ()
    world.set_pane(world.panes[0].id, state=State.DEGRADED)  # not ready: not typed
    assert _plan(world).actions == ()


def test_an_agent_whose_hooks_report_activity_gets_it_only_when_idle() -> None:
    world = _ready_since(3)
    for activity, typed in (("working", False), ("waiting", False), ("idle", True), ("", True)):
        world.tmux["host"][0] = replace(world.tmux["host"][0], activity=activity)
        assert bool(_plan(world).actions) is typed, activity  # "": no hooks, the delay alone
