"""The conversation rules of the planner, pure: which id a successor keeps, when it
resumes, the fallback to `command` after a resume that exited at once, the agent's own
id recorded, and the operator's `restart` (golden text plans, as in test_plan.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttower.model.lifecycle import Actor
from agenttower.model.resolved import DesiredLayout
from agenttower.reconcile.actions import Conversation, Kind, Spawn
from agenttower.reconcile.conversations import argv
from agenttower.reconcile.plan import Operation, Verb, plan
from tests.manifests import layout, profile

from .test_plan import converged, desired, knobs, run, stamp
from .world import NOW, OWNER, World

AGENT = ["agent", "--session-id", "{sessionId}"]
RESUME = ["agent", "--resume", "{sessionId}"]
SLOT = "slot-1111"


def team(policy: str = "Always", resume: list[str] | None = RESUME) -> DesiredLayout:
    extra = {"resume": resume} if resume else {}
    docs = (
        layout("team", restartPolicy=policy, launch={"slave:s1": "agent"}),
        profile("agent", AGENT, **extra),
    )
    return desired(*docs)["team"]


def ended(
    policy: str = "Always", resume: list[str] | None = RESUME, **pane: object
) -> tuple[World, DesiredLayout]:
    """s1 ran (ready 20 s), then its process exited 11 s ago; its slot's id is SLOT."""
    spec = team(policy, resume)
    world = converged(spec)
    fields = {
        "state": "degraded",
        "failed_stage": "launch_command",
        "exit_code": 3,
        "ended_at": stamp(-timedelta(seconds=11)),
        "ready_at": stamp(-timedelta(seconds=20)),
        "session_id": SLOT,
    } | pane
    world.set_pane(world.panes[1].id, **fields)
    world.tmux["host"][1] = replace(world.tmux["host"][1], dead=True, dead_status=3)
    return world, spec


def spawned(result: object) -> Spawn:
    (action,) = result.actions  # type: ignore[attr-defined]
    assert isinstance(action.detail, Spawn)
    return action.detail


def test_fr013_a_successor_of_a_conversation_that_ran_resumes_the_slots_id() -> None:
    world, spec = ended()
    result = run(world, {"team": spec})
    assert str(result) == f"+ create pane team/s1 resuming {SLOT}  # restartPolicy Always: degraded"
    assert spawned(result).conversation == Conversation(SLOT, None, SLOT)


def test_fr013_the_id_the_agent_reported_is_the_one_resumed() -> None:
    world, spec = ended(agent_session_id="agent-own-7")
    result = run(world, {"team": spec})
    assert str(result) == "+ create pane team/s1 resuming agent-own-7  # restartPolicy Always: degraded"
    assert spawned(result).conversation == Conversation(SLOT, "agent-own-7", "agent-own-7")


def test_fr013_a_conversation_that_never_ran_or_a_profile_without_resume_keeps_the_id_and_runs_command() -> (
    None
):
    for world, spec in (ended(ready_at=None), ended(resume=None)):
        result = run(world, {"team": spec})
        assert str(result) == "+ create pane team/s1  # restartPolicy Always: degraded"
        assert spawned(result).conversation == Conversation(SLOT)


def test_fr013_a_resume_that_exited_at_once_falls_back_to_command_at_once_and_counts_once() -> None:
    """Whatever the policy and however long the back-off: the restart that tried the resume
    already counted, so the fallback keeps its depth and its count, and is immediate."""
    for policy in ("Never", "Always"):
        world, spec = ended(
            policy,
            ready_at=None,
            resumed_from=SLOT,
            chain_depth=3,
            restarts_in_a_row=3,
            ended_at=stamp(timedelta(0)),
        )
        result = run(world, {"team": spec}, backoff_base=timedelta(minutes=1))
        assert str(result) == (
            "+ create pane team/s1 with its command (resume exited at once)"
            "  # resume exited at once: falling back to command"
        ), policy
        spawn = spawned(result)
        assert spawn.conversation == Conversation(SLOT, fell_back=True)
        assert (spawn.chain_depth, spawn.restarts_in_a_row, spawn.replaces) == (3, 3, world.panes[1].id)
        world.apply(result)
        assert str(run(world, {"team": spec})) == "", policy  # the fallback is ready: nothing left


def test_fr013_a_resume_that_ran_and_then_crashed_is_resumed_again_by_policy() -> None:
    world, spec = ended(
        resumed_from=SLOT, chain_depth=1, restarts_in_a_row=1, ended_at=stamp(-timedelta(minutes=1))
    )
    result = run(world, {"team": spec})
    assert str(result) == f"+ create pane team/s1 resuming {SLOT}  # restartPolicy Always: degraded"
    assert (spawned(result).chain_depth, spawned(result).restarts_in_a_row) == (2, 2)


def test_fr013_an_id_reported_by_the_agent_is_recorded_once() -> None:
    spec = team()
    world = converged(spec)
    world.tmux["host"][1] = replace(world.tmux["host"][1], agent_session="agent-own-7")
    result = run(world, {"team": spec})
    assert str(result) == "+ record agent session agent-own-7 of team/s1  # reported by the agent"
    assert result.actions[0].kind is Kind.RECORD_SESSION
    world.set_pane(world.panes[1].id, agent_session_id="agent-own-7")
    assert str(run(world, {"team": spec})) == ""


def _operate(world: World, spec: DesiredLayout, fresh: bool) -> object:
    pane = world.panes[1]
    op = Operation(Verb.RESTART, pane.id, spec.pane(pane.label), fresh)
    return plan(
        {"team": spec}, world.snapshot(), world.listings(), OWNER, NOW, settings=knobs(), operations=(op,)
    )


def test_fr013_restart_replaces_a_live_pane_in_place_resuming_and_fresh_starts_over() -> None:
    spec = team("Never")
    world = converged(spec)
    world.set_pane(world.panes[1].id, session_id=SLOT, ready_at=stamp(-timedelta(seconds=5)))
    live = world.panes[1]

    resumed = _operate(world, spec, fresh=False)
    assert str(resumed) == f"+ create pane team/s1 resuming {SLOT}  # restarted by operator"
    spawn = spawned(resumed)
    assert (spawn.replaces, spawn.predecessor_id, spawn.removed_by) == (live.id, live.id, Actor.OPERATOR)
    assert spawn.respawn == world.tmux["host"][1].pane_id and spawn.chain_depth == 1

    fresh = _operate(world, spec, fresh=True)
    assert str(fresh) == "+ create pane team/s1  # restarted by operator (fresh)"
    assert spawned(fresh).conversation == Conversation()


def test_fr013_resume_does_not_change_the_spec_hash_and_argv_substitutes_the_id() -> None:
    with_resume, without = team(), team(resume=None)
    assert with_resume.pane("s1").spec_hash == without.pane("s1").spec_hash  # type: ignore[union-attr]
    launch = with_resume.pane("s1").launch  # type: ignore[union-attr]
    world = converged(with_resume)
    rec = replace(world.panes[1], session_id=SLOT)
    assert argv(launch, rec) == ("agent", "--session-id", SLOT)
    assert argv(launch, replace(rec, resumed_from="agent-own-7")) == ("agent", "--resume", "agent-own-7")
    assert argv(with_resume.pane("m1").launch, rec) is None  # type: ignore[union-attr]  # the shell


@settings(max_examples=150, deadline=None)
@given(
    policy=st.sampled_from(["Never", "OnFailure", "Always"]),
    has_resume=st.booleans(),
    ran=st.booleans(),
    resumed=st.booleans(),
    own=st.sampled_from([None, "agent-own-7"]),
    ending=st.sampled_from(
        [("degraded", "launch_command"), ("failed", "recovery_reattach"), ("failed", "pane_create")]
    ),
    depth=st.integers(0, 5),
)
def test_property_a_successor_keeps_the_slots_id_and_resumes_only_what_ran(
    policy: str,
    has_resume: bool,
    ran: bool,
    resumed: bool,
    own: str | None,
    ending: tuple[str, str],
    depth: int,
) -> None:
    """Whatever ended the pane: at most one successor, with the slot's id; it resumes
    only a conversation that ran, with the agent's id first; a failed resume falls back
    at the same depth; and once the successor is up, nothing is left to plan."""
    state, stage = ending
    world, spec = ended(
        policy,
        RESUME if has_resume else None,
        state=state,
        failed_stage=stage,
        ready_at=stamp(-timedelta(seconds=20)) if ran else None,
        resumed_from=SLOT if resumed else None,
        agent_session_id=own,
        chain_depth=depth,
        restarts_in_a_row=depth,
        ended_at=stamp(-timedelta(hours=1)),
    )
    if state == "failed":
        world.tmux["host"].pop(1)
    pred = world.panes[1]
    result = run(world, {"team": spec})
    creations = [a for a in result.actions if a.kind is Kind.CREATE_PANE]
    assert len(creations) <= 1
    failed_resume = resumed and not ran and stage == "launch_command"
    if failed_resume:
        assert len(creations) == 1  # whatever the policy
    for action in creations:
        spawn = action.detail
        assert isinstance(spawn, Spawn) and spawn.conversation is not None
        talk = spawn.conversation
        assert talk.session_id == SLOT and talk.fell_back == failed_resume
        if failed_resume:
            assert talk.resume_id is None and spawn.chain_depth == depth
        elif has_resume and (ran or resumed):
            assert talk.resume_id == (own or SLOT)
        else:
            assert talk.resume_id is None
        assert spawn.predecessor_id == pred.id
    world.apply(result)
    assert not run(world, {"team": spec}).actions


def test_fr013_restarting_a_pane_that_ran_stably_starts_the_chain_over() -> None:
    spec = team("Never")
    world = converged(spec)
    world.set_pane(world.panes[1].id, session_id=SLOT, chain_depth=7, ready_at=stamp(-timedelta(minutes=11)))
    assert spawned(_operate(world, spec, fresh=False)).chain_depth == 0
    world.set_pane(world.panes[1].id, ready_at=stamp(-timedelta(minutes=9)))
    assert spawned(_operate(world, spec, fresh=False)).chain_depth == 8


def test_fr013_an_operators_verb_on_a_failed_resume_falls_back_at_the_same_depth() -> None:
    world, spec = ended("Never", ready_at=None, resumed_from=SLOT, chain_depth=2)
    result = _operate(world, spec, fresh=False)
    assert str(result) == (
        "+ create pane team/s1 with its command (resume exited at once)"
        "  # resume exited at once: falling back to command"
    )
    assert spawned(result).chain_depth == 2
