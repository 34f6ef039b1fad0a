"""The planner, pure: unit cases and the fixpoint property (plan, apply, plan -> nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttower.model.desired import resolve
from agenttower.model.durations import rfc3339
from agenttower.model.lifecycle import Actor, State
from agenttower.model.manifests import parse_text
from agenttower.model.resolved import DesiredLayout
from agenttower.reconcile.actions import Hold, Kind, Mark, NoteKind, Plan, Recovery, Removal, Spawn
from agenttower.reconcile.plan import plan
from agenttower.reconcile.restarts import backoff_delay, held_until
from agenttower.runtime.observe import ListingStatus, Unavailable
from agenttower.settings import LoopSettings, PaneSettings, RestartSettings, Settings
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


_GROUPS = {
    "panes": (PaneSettings, {"capacity", "creating_ttl", "chain_limit"}),
    "restarts": (RestartSettings, {"backoff_base", "backoff_max", "stable_after", "recovery_wave"}),
    "loop": (LoopSettings, {"allow_empty"}),
}


def knobs(**kw: object) -> Settings:
    """Settings with the named knobs changed, whichever group holds them."""
    groups = {
        group: kind(**{k: v for k, v in kw.items() if k in names})  # type: ignore[arg-type]
        for group, (kind, names) in _GROUPS.items()
    }
    assert set(kw) <= set().union(*(names for _, names in _GROUPS.values())), kw
    return Settings(**groups)  # type: ignore[arg-type]


def run(world: World, want: dict[str, DesiredLayout], deletes: tuple[str, ...] = (), **kw: object) -> Plan:
    return plan(want, world.snapshot(), world.listings(), OWNER, NOW, deletes, knobs(**kw))


def kinds(result: Plan) -> list[Kind]:
    return [a.kind for a in result.actions]


def test_fr001_missing_layout_is_created_with_template_labels() -> None:
    result = run(World([], [], {"host": []}, {}), {"team": TEAM})
    assert str(result) == "+ create layout team (m1, s1, s2) in session team  # layout missing"


def test_converged_world_plans_nothing() -> None:
    assert run(converged(), {"team": TEAM}).actions == ()


def test_fr013_vanished_pane_fails_recovery_reattach_and_dead_pane_degrades() -> None:
    world = converged()
    world.tmux["host"] = [world.tmux["host"][0], replace(world.tmux["host"][1], dead=True, dead_status=7)]
    result = run(world, {"team": TEAM})
    assert str(result) == (
        "+ mark pane team/s1 degraded (launch_command)  # process exited with status 7\n"
        "+ mark pane team/s2 failed (recovery_reattach)  # pane vanished from tmux"
    )
    assert [a.detail.exit_code for a in result.actions if isinstance(a.detail, Mark)] == [7, None]


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
    assert str(result) == (
        "+ create layout l0 (m1, s1, s2) in session l0  # layout missing\n"
        "+ create layout l1 (m1, s1, s2) in session l1  # layout missing\n"
        "! l2: managed_layout_capacity_exceeded: 2 layouts exist or are being created (limit 2)"
    )
    error = result.blocked[0].error
    assert (error.code, error.details) == (
        "managed_layout_capacity_exceeded",
        {"current_count": 2, "limit": 2},
    )


def test_panes_of_other_owners_are_never_matched() -> None:
    world = converged()
    world.tmux["host"] = [replace(o, owner="someone-else") for o in world.tmux["host"]]
    actions = run(world, {"team": TEAM}).actions
    assert all(isinstance(a.detail, Mark) and a.detail.stage == "recovery_reattach" for a in actions)


def test_option_seen_on_another_pane_id_is_not_ours() -> None:
    """A `#{@agenttower_pane}` inherited from a global option must not count as the pane."""
    world = converged()
    world.tmux["host"][0] = replace(world.tmux["host"][0], pane_id="%99")
    assert str(run(world, {"team": TEAM})) == (
        "+ mark pane team/m1 failed (recovery_reattach)  # pane vanished from tmux"
    )


def test_fr020_interrupted_creation_resumes_under_the_same_record() -> None:
    world = converged()
    world.set_pane(world.panes[1].id, state="creating", tmux_pane_id=None)
    world.tmux["host"].pop(1)
    result = run(world, {"team": TEAM})
    assert str(result) == "+ spawn pane team/s1  # creation interrupted"
    (action,) = result.actions
    assert isinstance(action.detail, Spawn) and action.resource.id == world.panes[1].id
    assert action.detail.tmux_pane_id is None and action.detail.anchor == world.tmux["host"][0].pane_id


def test_fr020_a_creating_pane_whose_slot_left_the_manifest_is_failed_not_resumed() -> None:
    """The manifest lost the slot while its pane was being created (or `diff` read the
    desired dir from before the apply that recorded it): no slot to resume it by."""
    world = converged()
    world.set_pane(world.panes[1].id, state="creating", tmux_pane_id=None)
    world.tmux["host"].pop(1)
    shrunk = replace(TEAM, panes=tuple(p for p in TEAM.panes if p.label != "s1"))
    lines = str(run(world, {"team": shrunk})).splitlines()
    assert "+ mark pane team/s1 failed (pane_create)  # creation interrupted" in lines
    assert not [line for line in lines if "spawn" in line or "create pane" in line]


def test_fr022_creating_past_ttl_is_swept_with_the_right_stage() -> None:
    world = converged()
    old = (NOW - timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
    world.set_pane(world.panes[0].id, state="creating", created_at=old)
    world.set_pane(world.panes[1].id, state="creating", created_at=old, tmux_pane_id=None)
    world.tmux["host"].pop(1)
    assert str(run(world, {"team": TEAM})) == (
        "+ mark pane team/m1 failed (registration)  # still creating after the pending-marker TTL\n"
        "+ mark pane team/s1 failed (pane_create)  # still creating after the pending-marker TTL"
    )


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
    assert str(run(world, smaller)) == (
        "+ configure layout team  # spec changed\n"
        "+ create pane team/x1  # pane missing\n"
        "+ remove pane team/s2  # pane no longer in manifest"
    )


def test_spec_change_is_a_note_not_an_action() -> None:
    changed = desired(layout("team", launch={"master:m1": "p"}), profile("p", SLEEP))
    result = run(converged(), changed)
    assert str(result) == (
        "+ configure layout team  # spec changed\n~ team/m1: outdated: spec changed (updateStrategy OnDelete)"
    )
    assert [n.kind for n in result.notes] == [NoteKind.OUTDATED]


def test_delete_removes_every_current_pane_as_operator() -> None:
    result = run(converged(), {}, deletes=("team",))
    assert str(result) == "\n".join(
        f"+ remove pane team/{n}  # deleted by operator" for n in ("m1", "s1", "s2")
    )
    assert all(
        isinstance(a.detail, Removal) and a.detail.removed_by is Actor.OPERATOR for a in result.actions
    )


def test_operator_removed_slot_is_not_recreated() -> None:
    world = converged()
    world.set_pane(world.panes[2].id, state=State.REMOVED, removed_by=Actor.OPERATOR)
    world.tmux["host"].pop(2)
    assert str(run(world, {"team": TEAM})) == "~ team/s2: removed by operator (recreate pane to restore)"
    world.set_pane(world.panes[2].id, removed_by=Actor.CONTROLLER)
    assert str(run(world, {"team": TEAM})) == "+ create pane team/s2  # pane slot back in the manifest"


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
    assert not {a.detail.tmux_pane_id for a in first.actions if isinstance(a.detail, Removal)} & foreign_ids


# ---- the fixpoint over every rule: unavailable targets, capacity, back-off ----------------

BOX = "container:box"
AVAILABILITY = st.sampled_from(["running", "stopped", "missing", "indeterminate"])
RESTARTED_FATES = st.sampled_from(["alive", "dead", "missing", "creating", "failed", "degraded", "removed"])


@st.composite
def hard_worlds(draw: st.DrawFn) -> tuple[World, dict[str, DesiredLayout], int]:
    """Layouts on the host and in a container that may be stopped, gone or not answering;
    panes in every state, some of them mid crash loop (restarts in a row, just ended)."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    in_box = {n: draw(st.booleans()) for n in ["a", "b", "c", "d"]}

    def spec(name: str) -> dict[str, object]:
        policy = draw(st.sampled_from(["Never", "OnFailure", "Always"]))
        target = {"target": {"container": "box"}} if in_box[name] else {}
        return layout(name, draw(st.sampled_from(["1m+2s", "2m+2s"])), restartPolicy=policy, **target)

    want = desired(*(spec(n) for n in names)) if names else {}
    world = World([], [], {"host": [], BOX: []}, {})
    box = draw(AVAILABILITY)
    if box == "indeterminate":
        world.status[BOX] = ListingStatus.INDETERMINATE
    elif box != "running":
        world.unavailable[BOX] = (
            Unavailable.CONTAINER_STOPPED if box == "stopped" else Unavailable.CONTAINER_MISSING
        )
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)):
        shape = want.get(name) or desired(spec(name))[name]
        rec = layout_record(shape)
        world.layouts.append(rec)
        for slot, pane in enumerate(shape.panes):
            fate = draw(RESTARTED_FATES)
            state = {"alive": State.READY, "dead": State.READY, "missing": State.READY}.get(fate, fate)
            ended = fate in ("failed", "degraded")
            record = pane_record(
                rec.id,
                pane,
                slot,
                State(state),
                tmux_pane_id=f"%p{slot}{name}",
                failed_stage=draw(st.sampled_from(["launch_command", "recovery_reattach"]))
                if ended
                else None,
                exit_code=draw(st.sampled_from([0, 1])) if ended else None,
                ended_at=stamp(-timedelta(seconds=draw(st.sampled_from([0, 15, 400])))) if ended else None,
                restarts_in_a_row=draw(st.integers(min_value=0, max_value=3)),
                chain_depth=draw(st.sampled_from([0, 3, 16])),
            )
            world.panes.append(record)
            if fate in ("alive", "dead", "degraded"):
                world.tmux[shape.target.key].append(observed(record, shape.session, dead=fate != "alive"))
        world.refresh(rec.id)
    return world, want, draw(st.integers(min_value=1, max_value=5))


@settings(max_examples=300, deadline=None)
@given(hard_worlds())
def test_property_every_rule_converges_and_holds_to_capacity_and_targets(
    case: tuple[World, dict[str, DesiredLayout], int],
) -> None:
    """Holding to targets, capacity and back-off are rules of the plan, so the fixpoint
    covers them: passes applied in turn reach a pass with nothing to do; nothing is ever
    spawned on a stopped or missing container (World.spawn refuses it); no pass creates
    a layout past capacity; a held restart is planned once."""
    world, want, capacity = case
    for _ in range(6):
        before = sum(1 for rec in world.layouts if rec.state != State.REMOVED)
        result = run(world, want, capacity=capacity)
        world.apply(result)
        created = sum(1 for a in result.actions if a.kind is Kind.CREATE_LAYOUT)
        assert created == 0 or before + created <= capacity
        if not result.actions:
            break
    again = run(world, want, capacity=capacity)
    assert again.actions == (), str(again)
    assert str(run(world, want, capacity=capacity)) == str(again)  # and it stays there


def plan_at(world: World, want: dict[str, DesiredLayout], at: datetime, capacity: int) -> Plan:
    return plan(want, world.snapshot(), world.listings(), OWNER, at, (), knobs(capacity=capacity))


@settings(max_examples=300, deadline=None)
@given(hard_worlds(), st.integers(min_value=0, max_value=7200), st.booleans())
def test_property_an_action_free_plan_holds_until_its_requeue_time(
    case: tuple[World, dict[str, DesiredLayout], int], later_s: int, just_before: bool
) -> None:
    """What lets a pass reuse its last plan (reconcile/plan_memo.py): a plan without
    actions depends on the clock only through the time it asks to be woken at, so the
    same world planned at any later instant before that time plans the same. A rule that
    waited on the clock without reporting its time would break this."""
    world, want, capacity = case
    for _ in range(6):  # to a pass with nothing to do, as a converged controller sees it
        result = plan_at(world, want, NOW, capacity)
        if not result.actions:
            break
        world.apply(result)
    first = plan_at(world, want, NOW, capacity)
    if first.actions:
        return
    due = first.requeue_at
    later = NOW + timedelta(seconds=later_s)
    if just_before and due is not None:
        later = due - timedelta(microseconds=1)
    if due is not None and later >= due:
        return
    again = plan_at(world, want, later, capacity)
    assert (str(again), again.requeue_at, again.activity) == (str(first), first.requeue_at, first.activity)


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
    result = run(world, {"other": other})
    assert str(result) == "\n".join(f"+ remove pane team/{n}  # manifest removed" for n in ("m1", "s1", "s2"))
    assert all(
        isinstance(a.detail, Removal) and a.detail.removed_by is Actor.CONTROLLER for a in result.actions
    )


def test_pruning_every_layout_is_refused_unless_allowed() -> None:
    result = run(converged(), {})
    assert str(result) == (
        "~ *: refusing to prune every layout (team): the desired dir is empty, missing or "
        "mid-checkout (--allow-empty to allow)"
    )
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
        Settings(),
        protected=("team",),
    )
    assert str(result) == "~ keep: manifest removed; kept (agenttower.dev/prune: disabled)"


def test_suspended_layout_gets_no_actions() -> None:
    world = converged()
    world.tmux["host"].clear()
    suspended = desired(layout("team", suspend=True))["team"]
    assert str(run(world, {"team": suspended})) == (
        "+ configure layout team  # spec changed\n~ team: suspended: no actions"
    )
    world.layouts[0] = replace(world.layouts[0], fingerprint=suspended.fingerprint())
    assert str(run(world, {"team": suspended})) == "~ team: suspended: no actions"


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
    result = run(world, {"team": team})
    assert str(result) == "+ create pane team/s1  # restartPolicy Always: degraded"
    spawn = result.actions[0].detail
    assert isinstance(spawn, Spawn)
    assert (spawn.replaces, spawn.predecessor_id, spawn.chain_depth) == (world.panes[1].id,) * 2 + (1,)
    assert spawn.respawn == world.tmux["host"][1].pane_id


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
    assert str(result) == "+ create pane team/s1  # restartPolicy Always: degraded"
    spawn = result.actions[0].detail
    assert isinstance(spawn, Spawn) and (spawn.chain_depth, spawn.restarts_in_a_row) == (1, 1)
    assert result.requeue_at is None


def test_repeated_crashes_wait_base_doubling_per_restart_in_a_row_capped() -> None:
    for n, seconds in ((1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (12, 300)):
        world, team = restarting("Always", chain_depth=n, restarts_in_a_row=n, ended_at=stamp(timedelta(0)))
        result = run(world, {"team": team})
        due = rfc3339(NOW + timedelta(seconds=seconds))
        assert str(result) == (
            f"+ hold restart of team/s1 until {due}  # back-off\n~ team/s1: back-off: restart at {due}"
        ), n
        hold = result.actions[0].detail
        assert isinstance(hold, Hold) and (hold.restarts_in_a_row, hold.delay_ms) == (n, seconds * 1000)
        assert result.requeue_at == NOW + timedelta(seconds=seconds)


def test_restart_happens_once_the_back_off_has_passed() -> None:
    world, team = restarting(
        "Always", chain_depth=2, restarts_in_a_row=2, ended_at=stamp(-timedelta(seconds=21))
    )
    (action,) = run(world, {"team": team}).actions
    spawn = action.detail
    assert isinstance(spawn, Spawn) and (spawn.chain_depth, spawn.restarts_in_a_row) == (3, 3)


def test_a_held_restart_is_announced_once_and_stays_visible_as_back_off() -> None:
    world, team = restarting("Always", chain_depth=1, restarts_in_a_row=1, ended_at=stamp(timedelta(0)))
    first = run(world, {"team": team})
    assert kinds(first) == [Kind.HOLD_RESTART]
    world.apply(first)
    again = run(world, {"team": team})
    assert again.actions == () and again.requeue_at == NOW + timedelta(seconds=10)
    assert [n.kind for n in again.notes] == [NoteKind.BACKOFF]
    assert held_until("Always", world.panes[1], Settings()) == rfc3339(NOW + timedelta(seconds=10))


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
    window = knobs(stable_after=timedelta(seconds=2))
    (action,) = run(world, {"team": team}, stable_after=window.restarts.stable_after).actions
    spawn = action.detail
    assert isinstance(spawn, Spawn) and (spawn.chain_depth, spawn.restarts_in_a_row) == (0, 1)
    assert held_until("Always", world.panes[1], window) is None  # immediate: null
    world.set_pane(
        world.panes[1].id, chain_depth=0, restarts_in_a_row=1, ready_at=stamp(-timedelta(seconds=1))
    )
    (hold,) = run(world, {"team": team}, stable_after=window.restarts.stable_after).actions
    assert isinstance(hold.detail, Hold) and hold.detail.delay_ms == 10_000
    # the default window is ten minutes: three seconds ready is a crash in a loop
    world.set_pane(
        world.panes[1].id, chain_depth=7, restarts_in_a_row=7, ready_at=stamp(-timedelta(seconds=3))
    )
    (hold,) = run(world, {"team": team}).actions
    assert isinstance(hold.detail, Hold) and hold.detail.delay_ms == 300_000


def test_next_restart_at_is_null_when_no_restart_is_wanted() -> None:
    world, _ = restarting("Always", chain_depth=3, restarts_in_a_row=3)
    pane = world.panes[1]
    assert held_until("Never", pane, Settings()) is None
    assert held_until("OnFailure", replace(pane, exit_code=0), Settings()) is None
    assert held_until("Always", replace(pane, chain_depth=16), Settings()) is None  # limit reached
    assert held_until("Always", pane, Settings()) == rfc3339(NOW + timedelta(seconds=29))


@given(
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=600),
    st.integers(min_value=0, max_value=3600),
)
def test_property_back_off_is_zero_first_then_doubles_up_to_the_cap(n: int, base: int, cap: int) -> None:
    settings = RestartSettings(backoff_base=timedelta(seconds=base), backoff_max=timedelta(seconds=cap))
    delay = backoff_delay(n, settings)
    if n == 0:
        assert delay == timedelta(0)
    else:
        assert delay == timedelta(seconds=min(base * 2 ** (n - 1), cap))
    assert backoff_delay(n + 1, settings) >= delay


def test_chain_depth_limit_fails_the_pane_and_resets_after_a_long_ready_run() -> None:
    world, team = restarting("Always", chain_depth=16, restarts_in_a_row=16)
    result = run(world, {"team": team})
    assert str(result) == (
        "+ mark pane team/s1 failed (launch_command)  # restart limit reached (16 restarts in a row)\n"
        "~ team/s1: restart limit reached (16 restarts in a row)"
    )
    assert [n.kind for n in result.notes] == [NoteKind.RESTART_LIMIT]
    world.apply(result)
    after = run(world, {"team": team})  # failed at the limit: shown, never marked again
    assert after.actions == () and [n.kind for n in after.notes] == [NoteKind.RESTART_LIMIT]
    world.set_pane(world.panes[1].id, state=State.DEGRADED, ready_at=stamp(-timedelta(minutes=30)))
    (again,) = run(world, {"team": team}).actions
    assert isinstance(again.detail, Spawn) and again.detail.chain_depth == 0


def test_vanished_pane_restarts_by_splitting_from_a_sibling() -> None:
    world, team = restarting("Always", state="failed", failed_stage="recovery_reattach", exit_code=None)
    world.tmux["host"].pop(1)
    (action,) = run(world, {"team": team}).actions
    assert isinstance(action.detail, Spawn) and action.detail.respawn is None
    assert action.detail.anchor == world.tmux["host"][0].pane_id


def test_update_strategy_recreate_respawns_outdated_panes() -> None:
    world = converged()
    changed = desired(
        layout("team", updateStrategy="Recreate", launch={"master:m1": "p"}), profile("p", SLEEP)
    )["team"]
    result = run(world, {"team": changed})
    assert str(result) == (
        "+ configure layout team  # spec changed\n"
        "+ create pane team/m1  # spec changed (updateStrategy Recreate)"
    )
    spawn = result.actions[1].detail
    assert isinstance(spawn, Spawn) and spawn.replaces == world.panes[0].id and spawn.chain_depth == 0
    assert spawn.respawn == world.tmux["host"][0].pane_id


def test_tmux_layout_change_is_applied_in_place() -> None:
    world = converged()
    result = run(world, {"team": desired(layout("team", tmuxLayout="even-vertical"))["team"]})
    assert str(result) == (
        "+ configure layout team  # spec changed\n+ relayout team as even-vertical  # tmuxLayout changed"
    )


def test_first_pass_records_recovery() -> None:
    world = converged()
    world.tmux["host"].pop(0)
    result = plan({"team": TEAM}, world.snapshot(), world.listings(), OWNER, NOW, recovery=True)
    assert str(result) == (
        "+ mark pane team/m1 failed (recovery_reattach)  # pane vanished from tmux\n"
        "+ re-attach team (2 panes)  # recovery"
    )
    (recovered,) = [a.detail for a in result.actions if isinstance(a.detail, Recovery)]
    assert len(recovered.pane_ids) == 2


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
    restarted = [str(a.resource) for a in result.actions if a.kind is Kind.CREATE_PANE]
    assert restarted == ["a/m1", "a/s1", "a/s2", "b/m1"]
    waiting = [n.name for n in result.notes if n.kind is NoteKind.WAVE]
    assert waiting == ["b/s1", "b/s2", "c/m1", "c/s1", "c/s2"]
