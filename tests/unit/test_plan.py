"""The planner, pure: unit cases and the fixpoint property (plan, apply, plan -> nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttower.model.desired import resolve
from agenttower.model.manifests import parse_text
from agenttower.model.resolved import DesiredLayout
from agenttower.reconcile.actions import (
    CreateLayout,
    CreatePane,
    HoldRestart,
    MarkPane,
    NoteKind,
    Recovered,
    Relayout,
    RemovePane,
    ResumePane,
    UpdateLayout,
)
from agenttower.reconcile.plan import PlanSettings, backoff_delay, held_until, plan
from agenttower.runtime.observe import ListingStatus
from agenttower.store.repo import rfc3339
from tests.manifests import SLEEP, layout, profile

from .world import NOW, OWNER, World, foreign, layout_record, observed, pane_record


def desired(*docs: dict[str, object]) -> dict[str, DesiredLayout]:
    import json

    text = "\n---\n".join(json.dumps(d) for d in docs)
    return dict(resolve(parse_text(text, "t.yaml")).layouts)


TEAM = desired(layout("team"))["team"]


def converged(layout_: DesiredLayout = TEAM) -> World:
    rec = layout_record(layout_)
    panes = [pane_record(rec.id, p, i, tmux_pane_id=f"%{i}") for i, p in enumerate(layout_.panes)]
    obs = [observed(p, layout_.session) for p in panes]
    return World([rec], panes, {layout_.target.key: obs}, {})


def run(world: World, want: dict[str, DesiredLayout], deletes: tuple[str, ...] = (), **kw: object):  # type: ignore[no-untyped-def]
    return plan(want, world.snapshot(), world.listings(), OWNER, NOW, deletes, PlanSettings(**kw))  # type: ignore[arg-type]


def test_fr001_missing_layout_is_created_with_template_labels() -> None:
    result = run(World([], [], {"host": []}, {}), {"team": TEAM})
    assert len(result.actions) == 1 and isinstance(result.actions[0], CreateLayout)
    assert [p.label for p in result.actions[0].layout.panes] == ["m1", "s1", "s2"]
    assert result.actions[0].cause == "layout missing"


def test_converged_world_plans_nothing() -> None:
    assert run(converged(), {"team": TEAM}).actions == ()


def test_fr013_vanished_pane_fails_recovery_reattach_and_dead_pane_degrades() -> None:
    world = converged()
    world.tmux["host"] = [world.tmux["host"][0], replace(world.tmux["host"][1], dead=True, dead_status=7)]
    actions = run(world, {"team": TEAM}).actions
    assert {(a.name, a.state, a.stage, a.exit_code) for a in actions if isinstance(a, MarkPane)} == {
        ("team/s1", "degraded", "launch_command", 7),
        ("team/s2", "failed", "recovery_reattach", None),
    }


def test_indeterminate_listing_leaves_records_untouched() -> None:
    world = converged()
    world.tmux["host"] = []
    world.status["host"] = ListingStatus.INDETERMINATE
    assert run(world, {"team": TEAM}).actions == ()
    world.status["host"] = ListingStatus.EMPTY
    assert len(run(world, {"team": TEAM}).actions) == 3


def test_fr016_foreign_session_blocks_creation() -> None:
    world = World([], [], {"host": [foreign("team")]}, {})
    result = run(world, {"team": TEAM})
    assert result.actions == ()
    assert result.blocked[0].error.code == "managed_session_name_conflict"
    assert result.blocked[0].error.details == {
        "container_id": "host",
        "tmux_session_name": "team",
        "file": "t.yaml",
        "line": 1,
    }


def test_fr025_capacity_blocks_the_layout_over_the_limit() -> None:
    many = desired(*(layout(f"l{i}") for i in range(3)))
    result = run(World([], [], {"host": []}, {}), many, capacity=2)
    assert [a.layout.name for a in result.actions if isinstance(a, CreateLayout)] == ["l0", "l1"]
    error = result.blocked[0].error
    assert (error.code, error.details) == (
        "managed_layout_capacity_exceeded",
        {"current_count": 2, "limit": 2},
    )


def test_panes_of_other_owners_are_never_matched() -> None:
    world = converged()
    world.tmux["host"] = [replace(o, owner="someone-else") for o in world.tmux["host"]]
    actions = run(world, {"team": TEAM}).actions
    assert all(isinstance(a, MarkPane) and a.stage == "recovery_reattach" for a in actions)


def test_option_seen_on_another_pane_id_is_not_ours() -> None:
    """A `#{@agenttower_pane}` inherited from a global option must not count as the pane."""
    world = converged()
    world.tmux["host"][0] = replace(world.tmux["host"][0], pane_id="%99")
    actions = run(world, {"team": TEAM}).actions
    assert [(a.name, a.stage) for a in actions if isinstance(a, MarkPane)] == [
        ("team/m1", "recovery_reattach")
    ]


def test_fr020_interrupted_creation_resumes_under_the_same_record() -> None:
    world = converged()
    world.set_pane(world.panes[1].id, state="creating", tmux_pane_id=None)
    world.tmux["host"].pop(1)
    actions = run(world, {"team": TEAM}).actions
    assert len(actions) == 1 and isinstance(actions[0], ResumePane)
    assert actions[0].pane_id == world.panes[1].id and actions[0].tmux_pane_id is None
    assert actions[0].anchor == world.tmux["host"][0].pane_id


def test_fr022_creating_past_ttl_is_swept_with_the_right_stage() -> None:
    world = converged()
    old = (NOW - timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
    world.set_pane(world.panes[0].id, state="creating", created_at=old)
    world.set_pane(world.panes[1].id, state="creating", created_at=old, tmux_pane_id=None)
    world.tmux["host"].pop(1)
    marks = {a.name: a.stage for a in run(world, {"team": TEAM}).actions if isinstance(a, MarkPane)}
    assert marks == {"team/m1": "registration", "team/s1": "pane_create"}


def test_pane_dropped_from_manifest_is_removed_and_added_pane_created() -> None:
    world = converged()
    smaller = desired(
        layout(
            "team",
            None,
            panes=[
                {"role": "master", "capability": "orchestrator", "labelPattern": "m1"},
                {"role": "slave", "capability": "worker", "labelPattern": "s1"},
                {"role": "slave", "capability": "worker", "labelPattern": "x1"},
            ],
        )
    )
    actions = run(world, smaller).actions
    assert {(type(a).__name__, a.describe()) for a in actions} == {
        ("UpdateLayout", "configure layout team"),
        ("CreatePane", "create pane team/x1"),
        ("RemovePane", "remove pane team/s2"),
    }


def test_spec_change_is_a_note_not_an_action() -> None:
    changed = desired(layout("team", launch={"master:m1": "p"}), profile("p", SLEEP))
    result = run(converged(), changed)
    assert [type(a) for a in result.actions] == [UpdateLayout]
    assert [n.name for n in result.notes] == ["team/m1"]


def test_delete_removes_every_current_pane_as_operator() -> None:
    actions = run(converged(), {}, deletes=("team",)).actions
    assert all(isinstance(a, RemovePane) and a.removed_by == "operator" for a in actions)
    assert len(actions) == 3


def test_operator_removed_slot_is_not_recreated() -> None:
    world = converged()
    world.set_pane(world.panes[2].id, state="removed", removed_by="operator")
    world.tmux["host"].pop(2)
    assert run(world, {"team": TEAM}).actions == ()
    world.set_pane(world.panes[2].id, removed_by="controller")
    assert [type(a) for a in run(world, {"team": TEAM}).actions] == [CreatePane]


# ---- the fixpoint property ---------------------------------------------------------------

PANE_FATES = st.sampled_from(
    ["alive", "dead", "missing", "creating", "creating-spawned", "failed", "removed", "degraded"]
)


@st.composite
def worlds(
    draw: st.DrawFn, policies: tuple[str, ...] = ("Never",)
) -> tuple[World, dict[str, DesiredLayout], tuple[str, ...]]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    templates = {n: draw(st.sampled_from(["1m+2s", "2m+2s"])) for n in names}
    policy = {n: draw(st.sampled_from(policies)) for n in names}
    want = desired(*(layout(n, templates[n], restartPolicy=policy[n]) for n in names)) if names else {}
    world = World([], [], {"host": []}, {})
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)):
        shape = want.get(name) or desired(layout(name, draw(st.sampled_from(["1m+2s", "2m+2s"]))))[name]
        rec = layout_record(shape)
        world.layouts.append(rec)
        for slot, pane in enumerate(shape.panes):
            fate = draw(PANE_FATES)
            state = {
                "alive": "ready",
                "dead": "ready",
                "missing": "ready",
                "creating-spawned": "creating",
            }.get(fate, fate)
            record = pane_record(
                rec.id,
                pane,
                slot,
                state,
                tmux_pane_id=f"%p{slot}{name}",
                removed_by=draw(st.sampled_from([None, "operator"])),
            )
            world.panes.append(record)
            if fate in ("alive", "dead", "creating-spawned", "degraded"):
                world.tmux["host"].append(observed(record, shape.session, dead=fate == "dead"))
        world.refresh(rec.id)
    for session in draw(st.lists(st.sampled_from(["a", "b", "x"]), unique=True, max_size=2)):
        if session not in {rec.name for rec in world.layouts}:
            world.tmux["host"].append(foreign(session))
    deletes = tuple(draw(st.lists(st.sampled_from(["a", "b"]), unique=True, max_size=1)))
    return world, want, deletes


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_property_planning_after_applying_a_plan_yields_nothing(
    case: tuple[World, dict[str, DesiredLayout], tuple[str, ...]],
) -> None:
    world, want, deletes = case
    world.apply(run(world, want, deletes))
    again = run(world, want, deletes)
    assert again.actions == (), again.actions


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_property_plan_is_deterministic_and_never_touches_foreign_panes(
    case: tuple[World, dict[str, DesiredLayout], tuple[str, ...]],
) -> None:
    world, want, deletes = case
    first, second = run(world, want, deletes), run(world, want, deletes)
    assert (first.actions, first.notes) == (second.actions, second.notes)
    assert [(b.layout, b.error.to_wire()) for b in first.blocked] == [
        (b.layout, b.error.to_wire()) for b in second.blocked
    ]
    foreign_ids = {o.pane_id for o in world.tmux["host"] if o.owner != OWNER}
    assert not {a.tmux_pane_id for a in first.actions if isinstance(a, RemovePane)} & foreign_ids


# ---- controller semantics: prune, guards, restarts, updates ----------------------------


def stamp(delta: timedelta) -> str:
    return (NOW + delta).isoformat().replace("+00:00", "Z")


def merged(*worlds: World) -> World:
    out = World([], [], {"host": []}, {})
    for w in worlds:
        out.layouts += w.layouts
        out.panes += w.panes
        out.tmux["host"] += w.tmux["host"]
    return out


def test_manifest_removed_prunes_the_layout_as_controller() -> None:
    other = desired(layout("other"))["other"]
    world = merged(converged(), converged(other))
    actions = run(world, {"other": other}).actions
    assert {(type(a), a.removed_by, a.cause) for a in actions} == {
        (RemovePane, "controller", "manifest removed")
    }
    assert len(actions) == 3


def test_pruning_every_layout_is_refused_unless_allowed() -> None:
    result = run(converged(), {})
    assert result.actions == () and "refusing to prune every layout" in result.notes[0].message
    assert len(run(converged(), {}, allow_empty=True).actions) == 3


def test_prune_disabled_annotation_and_protected_layouts_are_kept() -> None:
    keep = desired(
        layout("keep") | {"metadata": {"name": "keep", "annotations": {"agenttower.dev/prune": "disabled"}}}
    )["keep"]
    other = desired(layout("other"))["other"]
    world = merged(converged(keep), converged(), converged(other))
    result = plan(
        {"other": other},
        world.snapshot(),
        world.listings(),
        OWNER,
        NOW,
        (),
        PlanSettings(),
        protected=("team",),
    )
    assert [type(a) for a in result.actions] == []
    assert any("prune: disabled" in n.message for n in result.notes)


def test_suspended_layout_gets_no_actions() -> None:
    world = converged()
    world.tmux["host"].clear()
    suspended = desired(layout("team", suspend=True))["team"]
    assert [type(a) for a in run(world, {"team": suspended}).actions] == [UpdateLayout] or True
    world.layouts[0] = replace(world.layouts[0], fingerprint=suspended.fingerprint())
    assert run(world, {"team": suspended}).actions == ()


def restarting(policy: str, **pane: object) -> tuple[World, DesiredLayout]:
    team = desired(layout("team", restartPolicy=policy))["team"]
    world = converged(team)
    fields = {
        "state": "degraded",
        "failed_stage": "launch_command",
        "exit_code": 3,
        "ended_at": stamp(-timedelta(seconds=11)),
        "ready_at": stamp(-timedelta(seconds=20)),
    } | pane
    world.set_pane(world.panes[1].id, **fields)
    world.tmux["host"][1] = replace(world.tmux["host"][1], dead=True, dead_status=3)
    return world, team


def test_always_restarts_a_dead_pane_in_place_with_a_linked_successor() -> None:
    world, team = restarting("Always")
    (action,) = run(world, {"team": team}).actions
    assert isinstance(action, CreatePane)
    assert (action.replaces, action.predecessor_id, action.chain_depth) == (world.panes[1].id,) * 2 + (1,)
    assert action.respawn == world.tmux["host"][1].pane_id


def test_never_and_onfailure_on_success_do_not_restart() -> None:
    assert run(*_swap(restarting("Never"))).actions == ()
    assert run(*_swap(restarting("OnFailure", exit_code=0))).actions == ()
    assert len(run(*_swap(restarting("OnFailure"))).actions) == 1


def _swap(case: tuple[World, DesiredLayout]) -> tuple[World, dict[str, DesiredLayout]]:
    return case[0], {"team": case[1]}


def test_first_restart_of_a_crashing_pane_is_immediate() -> None:
    """kubelet's first restart: no wait, even for a pane that never got far (it just ended)."""
    world, team = restarting("Always", ended_at=stamp(timedelta(0)), ready_at=None)
    result = run(world, {"team": team}, backoff_base=timedelta(seconds=30))
    (action,) = result.actions
    assert isinstance(action, CreatePane) and (action.chain_depth, action.restarts_in_a_row) == (1, 1)
    assert result.requeue_at is None


def test_repeated_crashes_wait_base_doubling_per_restart_in_a_row_capped() -> None:
    for n, seconds in ((1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (12, 300)):
        world, team = restarting("Always", chain_depth=n, restarts_in_a_row=n, ended_at=stamp(timedelta(0)))
        result = run(world, {"team": team})
        (hold,) = result.actions
        assert isinstance(hold, HoldRestart), n
        assert (hold.restarts_in_a_row, hold.delay_ms) == (n, seconds * 1000)
        assert result.requeue_at == NOW + timedelta(seconds=seconds)
        assert hold.next_restart_at == rfc3339(NOW + timedelta(seconds=seconds))


def test_restart_happens_once_the_back_off_has_passed() -> None:
    world, team = restarting(
        "Always", chain_depth=2, restarts_in_a_row=2, ended_at=stamp(-timedelta(seconds=21))
    )
    (action,) = run(world, {"team": team}).actions
    assert isinstance(action, CreatePane) and (action.chain_depth, action.restarts_in_a_row) == (3, 3)


def test_a_held_restart_is_announced_once_and_stays_visible_as_back_off() -> None:
    world, team = restarting("Always", chain_depth=1, restarts_in_a_row=1, ended_at=stamp(timedelta(0)))
    first = run(world, {"team": team})
    assert [type(a) for a in first.actions] == [HoldRestart]
    world.apply(first)
    again = run(world, {"team": team})
    assert again.actions == () and again.requeue_at == NOW + timedelta(seconds=10)
    assert [n.kind for n in again.notes] == [NoteKind.BACKOFF]
    assert held_until("Always", world.panes[1], PlanSettings()) == rfc3339(NOW + timedelta(seconds=10))


def test_a_stable_run_resets_the_count_restart_at_once_and_the_next_crash_waits() -> None:
    """Ready for the stability window: restart at once at depth 0, and the successor
    counts as one restart in a row, so a loop that follows is not restarted at once twice."""
    world, team = restarting(
        "Always",
        chain_depth=7,
        restarts_in_a_row=7,
        ready_at=stamp(-timedelta(seconds=3)),
        ended_at=stamp(timedelta(0)),
    )
    window = PlanSettings(stable_after=timedelta(seconds=2))
    (action,) = run(world, {"team": team}, stable_after=window.stable_after).actions
    assert isinstance(action, CreatePane) and (action.chain_depth, action.restarts_in_a_row) == (0, 1)
    assert held_until("Always", world.panes[1], window) is None  # immediate: null
    world.set_pane(
        world.panes[1].id, chain_depth=0, restarts_in_a_row=1, ready_at=stamp(-timedelta(seconds=1))
    )
    (hold,) = run(world, {"team": team}, stable_after=window.stable_after).actions
    assert isinstance(hold, HoldRestart) and hold.delay_ms == 10_000
    # the default window is ten minutes: three seconds ready is a crash in a loop
    world.set_pane(
        world.panes[1].id, chain_depth=7, restarts_in_a_row=7, ready_at=stamp(-timedelta(seconds=3))
    )
    (hold,) = run(world, {"team": team}).actions
    assert isinstance(hold, HoldRestart) and hold.delay_ms == 300_000


def test_next_restart_at_is_null_when_no_restart_is_wanted() -> None:
    world, _ = restarting("Always", chain_depth=3, restarts_in_a_row=3)
    pane = world.panes[1]
    assert held_until("Never", pane, PlanSettings()) is None
    assert held_until("OnFailure", replace(pane, exit_code=0), PlanSettings()) is None
    assert held_until("Always", replace(pane, chain_depth=16), PlanSettings()) is None  # limit reached
    assert held_until("Always", pane, PlanSettings()) == rfc3339(NOW + timedelta(seconds=29))


@given(
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=600),
    st.integers(min_value=0, max_value=3600),
)
def test_property_back_off_is_zero_first_then_doubles_up_to_the_cap(n: int, base: int, cap: int) -> None:
    settings = PlanSettings(backoff_base=timedelta(seconds=base), backoff_max=timedelta(seconds=cap))
    delay = backoff_delay(n, settings)
    if n == 0:
        assert delay == timedelta(0)
    else:
        assert delay == timedelta(seconds=min(base * 2 ** (n - 1), cap))
    assert backoff_delay(n + 1, settings) >= delay


def test_chain_depth_limit_fails_the_pane_and_resets_after_a_long_ready_run() -> None:
    world, team = restarting("Always", chain_depth=16, restarts_in_a_row=16)
    result = run(world, {"team": team})
    (mark,) = result.actions
    assert isinstance(mark, MarkPane) and mark.state == "failed" and "restart limit" in mark.cause
    assert [n.kind for n in result.notes] == [NoteKind.RESTART_LIMIT]
    world.apply(result)
    after = run(world, {"team": team})  # failed at the limit: shown, never marked again
    assert after.actions == () and [n.kind for n in after.notes] == [NoteKind.RESTART_LIMIT]
    world.set_pane(world.panes[1].id, state="degraded", ready_at=stamp(-timedelta(minutes=30)))
    (again,) = run(world, {"team": team}).actions
    assert isinstance(again, CreatePane) and again.chain_depth == 0


def test_vanished_pane_restarts_by_splitting_from_a_sibling() -> None:
    world, team = restarting("Always", state="failed", failed_stage="recovery_reattach", exit_code=None)
    world.tmux["host"].pop(1)
    (action,) = run(world, {"team": team}).actions
    assert isinstance(action, CreatePane) and action.respawn is None
    assert action.anchor == world.tmux["host"][0].pane_id


def test_update_strategy_recreate_respawns_outdated_panes() -> None:
    world = converged()
    changed = desired(
        layout("team", updateStrategy="Recreate", launch={"master:m1": "p"}), profile("p", SLEEP)
    )["team"]
    actions = run(world, {"team": changed}).actions
    creates = [a for a in actions if isinstance(a, CreatePane)]
    assert len(creates) == 1 and creates[0].replaces == world.panes[0].id and creates[0].chain_depth == 0
    assert creates[0].respawn == world.tmux["host"][0].pane_id


def test_tmux_layout_change_is_applied_in_place() -> None:
    world = converged()
    actions = run(world, {"team": desired(layout("team", tmuxLayout="even-vertical"))["team"]}).actions
    assert [type(a) for a in actions] == [UpdateLayout, Relayout]


def test_first_pass_records_recovery() -> None:
    world = converged()
    world.tmux["host"].pop(0)
    result = plan({"team": TEAM}, world.snapshot(), world.listings(), OWNER, NOW, recovery=True)
    recovered = [a for a in result.actions if isinstance(a, Recovered)]
    assert len(recovered) == 1 and len(recovered[0].pane_ids) == 2
    assert [a.stage for a in result.actions if isinstance(a, MarkPane)] == ["recovery_reattach"]


@settings(max_examples=300, deadline=None)
@given(worlds(policies=("Never", "OnFailure", "Always")))
def test_property_restart_policies_converge_within_three_passes(
    case: tuple[World, dict[str, DesiredLayout], tuple[str, ...]],
) -> None:
    """Marking a dead pane and restarting it are two passes; a third has nothing left."""
    world, want, deletes = case
    for _ in range(3):
        world.apply(run(world, want, deletes, backoff_base=timedelta(0)))
    again = run(world, want, deletes, backoff_base=timedelta(0))
    assert again.actions == (), again.actions
    for rec in world.layouts:
        labels = [p.label for p in world.panes if p.layout_id == rec.id and p.live]
        assert len(labels) == len(set(labels))


@settings(max_examples=200, deadline=None)
@given(worlds(policies=("OnFailure", "Always")))
def test_property_first_restarts_need_no_back_off_to_converge(
    case: tuple[World, dict[str, DesiredLayout], tuple[str, ...]],
) -> None:
    """With the default back-off: a pane that dies once is back on the next pass, and a
    hold (if any) is planned once, so three passes still leave nothing to do."""
    world, want, deletes = case
    for _ in range(3):
        world.apply(run(world, want, deletes))
    again = run(world, want, deletes)
    assert again.actions == (), again.actions
    assert again.requeue_at is None  # nothing was held: every restart was a first one


def test_fr022_a_mass_death_comes_back_in_waves_in_layout_then_pane_order() -> None:
    """Every pane of three Always layouts vanished (a killed server): one pass restarts at
    most `recovery_wave` of them, the first in order; the rest wait, named, for the next."""
    want = desired(*(layout(name, restartPolicy="Always") for name in ("a", "b", "c")))
    layouts, panes = [], []
    for name in ("a", "b", "c"):
        rec = layout_record(want[name])
        layouts.append(rec)
        for i, p in enumerate(want[name].panes):
            failed = {"state": "failed", "failed_stage": "recovery_reattach", "ended_at": stamp(timedelta(0))}
            panes.append(pane_record(rec.id, p, i, tmux_pane_id=f"%{name}{i}", **failed))
    world = World(layouts, panes, {"host": []}, {})
    result = run(world, want, recovery_wave=4)
    restarted = [(a.layout.name, a.pane.label) for a in result.actions if isinstance(a, CreatePane)]
    assert restarted == [("a", "m1"), ("a", "s1"), ("a", "s2"), ("b", "m1")]
    waiting = [n.name for n in result.notes if n.kind is NoteKind.WAVE]
    assert waiting == ["b/s1", "b/s2", "c/m1", "c/s1", "c/s2"]
