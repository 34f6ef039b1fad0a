"""A converged pass takes its last plan as it was (reconcile/plan_memo.py), and still sees
everything that happens: checked against a real tmux, on a clock the test moves.

The memo may only hold while nothing it was planned from changed and before the time
the plan asked to be woken at, so each step below first shows a reused plan, then a
change (a killed agent, a back-off running out) that must be planned for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agenttower.reconcile.actions import Kind
from agenttower.reconcile.engine import PassResult, Session
from agenttower.settings import Settings
from tests.conftest import AtCli, Env, eventually
from tests.manifests import SLEEP, layout, profile, write
from tests.passes import Run, clocked_passes

pytestmark = pytest.mark.tmux

LABELS = ["master:m1", "slave:s1", "slave:s2"]


@pytest.fixture
def passes(env: Env, at: type[AtCli]) -> Iterator[tuple[Session, Run]]:
    """`team` (1m+2s, restartPolicy Always) converged by `apply`, then an in-process session
    whose clock `run(seconds)` moves on before each pass of the desired dir."""
    path = write(
        env.root / "team.yaml",
        layout("team", restartPolicy="Always", launch=dict.fromkeys(LABELS, "sleepy")),
        profile("sleepy", SLEEP),
    )
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    with clocked_passes(Settings.from_env()) as passes:
        yield passes


def kill_agent(env: Env, session: Session, label: str) -> str:
    """kill -9 the process of `team/label`, and wait until tmux shows the pane dead."""
    (pane,) = [p for p in session.store.panes() if p.live and p.label == label]
    pid = env.tmux("display-message", "-p", "-t", pane.tmux_pane_id, "#{pane_pid}").stdout.strip()
    env.tmux("run-shell", f"kill -9 {pid}")

    def dead() -> bool:
        seen = env.tmux("display-message", "-p", "-t", pane.tmux_pane_id, "#{pane_dead}:#{pane_dead_signal}")
        if seen.stdout.strip() == "1:":
            env.tmux("run-shell", "true")  # Debian's tmux can miss the SIGCHLD: reap it
        return seen.stdout.strip() == "1:9"

    eventually(dead, what=f"{label} dead")
    return pane.id


def kinds(result: PassResult) -> list[Kind]:
    return [a.kind for a in result.plan.actions]


def test_fr020_a_converged_pass_reuses_its_plan_until_an_agent_dies(
    env: Env, passes: tuple[Session, Run]
) -> None:
    session, run = passes
    assert kinds(run(0)) == [] and session.memo.reused == 0
    again = run(1)
    assert kinds(again) == [] and session.memo.reused == 1
    assert again.invocations == 1  # the listing is still made every pass: the plan is what is reused

    killed = kill_agent(env, session, "s1")
    assert kinds(run(1)) == [Kind.MARK_PANE]  # the listing changed: planned again
    assert Kind.CREATE_PANE in kinds(run(0))  # the pass its mark asks for restarts it
    assert session.memo.reused == 1
    successor = next(p for p in session.store.panes() if p.predecessor_id == killed)
    assert successor.live


def test_fr020_a_restart_held_by_back_off_is_planned_once_its_time_comes(
    env: Env, passes: tuple[Session, Run]
) -> None:
    session, run = passes
    run(0)
    kill_agent(env, session, "s1")
    assert kinds(run(1)) == [Kind.MARK_PANE]
    assert Kind.CREATE_PANE in kinds(run(0))  # the first restart of a stable pane: at once
    kill_agent(env, session, "s1")  # and again before it was stable: back-off
    assert kinds(run(0)) == [Kind.MARK_PANE]
    assert kinds(run(0)) == [Kind.HOLD_RESTART]
    held = run(0)
    due = held.plan.requeue_at
    assert kinds(held) == [] and due is not None
    reused = session.memo.reused
    assert kinds(run(1)) == [] and session.memo.reused == reused + 1  # still held: the same plan

    wait = (due - session.clock()).total_seconds()
    assert Kind.CREATE_PANE in kinds(run(wait))  # its time came: planned, not reused
    assert session.memo.reused == reused + 1
