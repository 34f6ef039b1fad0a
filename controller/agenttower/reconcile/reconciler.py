"""The one entry point: `reconcile(session, request) -> Result`, for every caller.

The controller's passes, the CLI's verbs (in-process or handed to the controller over
its socket), `diff` and the lifecycle verbs all come through here, so a new capability
is a new request kind or a new planner rule, never a new way to put a pass together.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agenttower.model.desired import Desired, Problem
from agenttower.model.errors import cannot_observe, validation_failed
from agenttower.paths import Paths
from agenttower.settings import Settings

from . import engine, lifecycle, operations, send
from .actions import Kind, NoteKind, Plan
from .engine import PassResult, Session, hold


class Op(StrEnum):
    """What a request asks for (the wire's `op`)."""

    PASS = "pass"  # converge everything to the desired state (the controller's loop)
    DIFF = "diff"  # plan a pass and change nothing
    APPLY = "apply"
    DELETE = "delete"
    REMOVE = "remove"
    RECREATE = "recreate"
    RESTART = "restart"
    SCAN = "scan"
    ADOPT = "adopt"
    PROMOTE = "promote"
    SEND = "send"  # type text into panes (no record changes; its event goes to the outbox)


@dataclass(frozen=True)
class Request:
    """What is asked. `body` is a verb's wire request (the JSON the CLI sends, `op`
    included); a pass or a diff carries the desired state its caller loaded instead
    (with the problems of a lenient load, and whether it is the first pass after a start)."""

    op: Op
    body: Mapping[str, Any] = field(default_factory=dict)
    desired: Desired | None = None
    problems: tuple[Problem, ...] = ()
    recovery: bool = False

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Request:
        try:
            op = Op(str(body.get("op")))
        except ValueError:
            raise validation_failed("op", f"unknown request {body.get('op')!r}") from None
        if op in (Op.PASS, Op.DIFF):
            raise validation_failed("op", f"{op} is not a request the socket takes")
        return cls(op, body)


@dataclass(frozen=True)
class Result:
    """What came of it. `answer` is a verb's wire answer; `passed` is the pass a PASS or
    DIFF planned (and, for a PASS, ran). `requeue_after` (seconds) asks for the next pass
    that soon because this one leaves work it could not do yet (a dead agent marked is
    restarted by the next one; a recovery wave waits for the next); `requeue_at` is the
    earliest back-off that ends. Neither: nothing is left until something changes."""

    answer: dict[str, Any] | None = None
    passed: PassResult | None = None
    requeue_after: float | None = None
    requeue_at: datetime | None = None


def reconcile(session: Session, request: Request) -> Result:
    """Do what `request` asks, on a session that holds the reconciler lock (a DIFF's may
    be read-only), and say what is left.

    An error is an `AgentTowerError` (a closed-set FEAT-013 code) raised before anything
    was written: bad input, a rule that refuses the verb, or a target that could not be
    observed (`Cause.UNOBSERVABLE`). What fails while a pass executes is not raised: it is
    in `passed.errors` (and a verb's answer), since other targets and actions went on,
    and the next pass retries what is retryable. A PASS requeues after a pass that acted;
    a request never requeues (the controller's next pass follows anyway)."""
    if request.op is Op.PASS:
        assert request.desired is not None
        passed = session.run_pass(request.desired, problems=request.problems, recovery=request.recovery)
        return Result(
            passed=passed,
            requeue_after=requeue_after(session.settings, passed.plan),
            requeue_at=passed.plan.requeue_at,
        )
    if request.op is Op.DIFF:
        assert request.desired is not None
        return Result(passed=_diff(session, request.desired))
    return Result(answer=_VERBS[request.op](session, dict(request.body)))


def requeue_after(settings: Settings, plan: Plan) -> float | None:
    """A pass that only recorded what it saw (a dead agent marked) is followed at once
    by the one that acts on it (its restart); a recovery wave by the next one after a
    jittered pause; any other pass that acted, a moment later; a quiet one, not at all."""
    if not plan.actions:
        return None
    loop = settings.loop
    if any(note.kind is NoteKind.WAVE for note in plan.notes):  # more to bring back
        return loop.after_actions + random.uniform(0.0, settings.restarts.recovery_jitter)
    return 0.0 if all(a.kind is Kind.MARK_PANE for a in plan.actions) else loop.after_actions


def diff(paths: Paths, settings: Settings, desired: Desired) -> Plan:
    """What `apply` of `desired` would do now: a DIFF request on a session that takes no
    lock and opens the store read-only (a diff changes nothing)."""
    with engine.read_only(paths, settings) as session:
        passed = reconcile(session, Request(Op.DIFF, desired=desired)).passed
    assert passed is not None
    return passed.plan


def _diff(session: Session, desired: Desired) -> PassResult:
    """The pass `apply` of the desired dir as it is would run, planned and not run. A
    target that did not answer, or a layout the pass would block, is an error: a diff
    that cannot say what would happen must not say "nothing"."""
    snapshot = session.snapshot()
    desired, held = hold(desired, (), snapshot)
    observed = session.observe(desired, snapshot)
    planned = session.plan(desired, snapshot, observed, protected=held)
    unknown = {k: v.error for k, v in observed.items() if not v.known}
    if unknown:
        key, why = sorted(unknown.items())[0]
        raise cannot_observe(key, why)
    if planned.blocked:
        raise planned.blocked[0].error
    return PassResult(planned, observed, held=held)


def _delete(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    return operations.delete(session, [(k, n) for k, n in body["objects"]])


_VERBS = {
    Op.APPLY: operations.apply,
    Op.DELETE: _delete,
    Op.REMOVE: lifecycle.remove,
    Op.RECREATE: lifecycle.recreate,
    Op.RESTART: lifecycle.restart,
    Op.SCAN: lifecycle.scan,
    Op.ADOPT: lifecycle.adopt,
    Op.PROMOTE: lifecycle.promote,
    Op.SEND: send.send,
}
