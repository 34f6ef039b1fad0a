"""Carrying out a plan, target by target: marks, then creations, then removals.

Removals run last (prune last), so a pass that both creates and removes never
leaves the user with fewer agents than before while it runs. Each target's actions
run in order under that target's lock (creation is serialized per container, FR-019);
different targets run in parallel threads, each with its own SQLite connection (a
connection is not shared across threads; BEGIN IMMEDIATE orders their writes), so two
containers converge in the time of the slower one. One target failing never stops another.
A pane is only gone when what it started is gone too (runtime/processes.py): removals
stop the record's processes after `kill-pane`, and before a slot gets a new agent the
processes its earlier record left (vanished with the server, or orphaned by a dead
agent) are stopped first.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from agenttower.events.types import EventType
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import Actor, Stage, State
from agenttower.runtime.batch import kill_line, layout_line, settle_line
from agenttower.runtime.observe import Listing
from agenttower.runtime.paste import Outcome as PasteOutcome
from agenttower.runtime.paste import paste
from agenttower.runtime.processes import Stopped, stop_processes
from agenttower.runtime.tmux import Tmux, TransientError
from agenttower.store.repo import Store

from . import last_output
from .actions import (
    Action,
    AgentSession,
    CrashHold,
    Hold,
    Input,
    Kind,
    Layout,
    Mark,
    Phase,
    Plan,
    Recovery,
    Removal,
    Settle,
    Spawn,
)
from .context import PassContext
from .spawn import SpawnPipeline

_LOCKS_GUARD = threading.Lock()
_TARGET_LOCKS: dict[str, threading.Lock] = {}


def target_lock(key: str) -> threading.Lock:
    """One lock per target (per container): its actions never interleave with another
    run's in this process, whoever runs them (a pass, a request, a lifecycle verb)."""
    with _LOCKS_GUARD:
        return _TARGET_LOCKS.setdefault(key, threading.Lock())


@dataclass
class Outcome:
    errors: list[AgentTowerError] = field(default_factory=list)


@dataclass
class Executor:
    ctx: PassContext
    runtimes: Mapping[str, Tmux]

    @property
    def store(self) -> Store:
        return self.ctx.store

    def execute(self, plan: Plan) -> Outcome:
        outcome = Outcome()
        by_target: dict[str, list[Action]] = {}
        for action in plan.actions:
            by_target.setdefault(action.target_key, []).append(action)
        database = self._database() if len(by_target) > 1 else None
        if database is None:
            for key, actions in by_target.items():
                with target_lock(key):
                    self._target(self.runtimes[key], actions, outcome)
            return outcome
        with ThreadPoolExecutor(max_workers=min(len(by_target), 16), thread_name_prefix="target") as pool:
            futures = [
                pool.submit(self._target_thread, database, key, actions) for key, actions in by_target.items()
            ]
            results = [f.exception() or f.result() for f in futures]  # every target finishes first
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outcome.errors.extend(result.errors)
        return outcome

    def _database(self) -> Path | None:
        """The store's file, for a connection per thread (None: in memory, stay on this thread)."""
        row = self.store.conn.execute("PRAGMA database_list").fetchone()
        return Path(row[2]) if row and row[2] else None

    def _target_thread(self, database: Path, key: str, actions: Sequence[Action]) -> Outcome:
        outcome = Outcome()
        store = Store.open(database)
        try:
            with target_lock(key):
                mine = replace(self, ctx=replace(self.ctx, store=store))
                mine._target(self.runtimes[key], actions, outcome)
        finally:
            store.close()
        return outcome

    def _target(self, tmux: Tmux, actions: Sequence[Action], outcome: Outcome) -> None:
        """The target's actions in the plan's order, each run of one phase as one step
        (one batch where tmux allows). Once what was seen is recorded (the marks), what
        earlier records left running is stopped before anything new starts."""
        stopped = False
        for phase, run in itertools.groupby(actions, key=lambda a: a.phase):
            if phase > Phase.MARK and not stopped:
                self._stop_leftovers(tmux, actions)
                stopped = True
            self._phase(phase, tmux, list(run), outcome)
        if not stopped:
            self._stop_leftovers(tmux, actions)

    def _phase(self, phase: Phase, tmux: Tmux, actions: list[Action], outcome: Outcome) -> None:
        if phase is Phase.CREATE:
            outcome.errors.extend(SpawnPipeline(self.ctx, tmux).run(actions))
        elif phase is Phase.SETTLE:
            self._settle(tmux, actions)
        elif phase is Phase.RELAYOUT:
            changes = [d for _, d in _with(actions, Layout) if d.anchor and d.tmux_layout]
            with contextlib.suppress(TransientError):  # cosmetic: the next change retries
                tmux.source([layout_line(str(d.anchor), str(d.tmux_layout)) for d in changes])
        elif phase is Phase.REMOVE:
            outcome.errors.extend(self._remove(tmux, actions))
        elif phase is Phase.INPUT:
            self._inputs(tmux, actions)
        elif phase is Phase.MARK:
            exited = [d.tmux_pane_id for _, d in _with(actions, Mark) if d.tmux_pane_id]
            screens = last_output.capture(tmux, exited)  # one call for every pane seen dead
            for action in actions:
                self._record(action, screens)
        else:
            for action in actions:
                self._record(action)

    def _record(self, action: Action, screens: Mapping[str, str] | None = None) -> None:
        """An action that only writes the store: what was seen, a spec, a hold, a recovery."""
        detail = action.detail
        if isinstance(detail, Mark):
            self._mark(action, detail, (screens or {}).get(detail.tmux_pane_id or ""))
        elif isinstance(detail, Layout) and detail.spec is not None:
            layout = detail.spec
            with self.store.write(self.ctx.clock(), self.ctx.actor) as tx:
                tx.update_layout_spec(
                    str(action.resource.id),
                    layout.spec,
                    layout.source.file if layout.source else None,
                    layout.to_json(),
                    layout.fingerprint(),
                )
        elif isinstance(detail, Hold):
            pane = self.store.pane(str(action.resource.id))
            if pane is not None:
                with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
                    tx.hold_restart(pane, detail.next_restart_at, detail.restarts_in_a_row, detail.delay_ms)
        elif isinstance(detail, CrashHold):
            pane = self.store.pane(str(action.resource.id))
            if pane is not None:
                with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
                    payload = {"exit_code": detail.exit_code, "last_line": detail.last_line}
                    tx.hold_crash_loop(pane, detail.reason, payload)
        elif isinstance(detail, AgentSession):
            pane = self.store.pane(str(action.resource.id))
            if pane is not None:
                with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
                    tx.record_agent_session(pane, detail.agent_session_id)
        elif isinstance(detail, Recovery):
            with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
                payload = {"panes": list(detail.pane_ids)}
                tx.emit(EventType.LAYOUT_RECOVERY_REATTACHED, action.resource.id, None, payload)

    def _inputs(self, tmux: Tmux, actions: Sequence[Action]) -> None:
        """Type each slot's initialInput (as `send` does) and remember the slot, so it is
        never typed again: at most once, even when the screen did not confirm it. Only
        a paste tmux refused (the pane went away) is left for a later pass."""
        send = self.ctx.settings.send
        for action, detail in _with(actions, Input):
            delivery = paste(
                tmux,
                detail.tmux_pane_id,
                detail.text,
                enter=True,
                enter_delay=send.enter_delay,
                confirm_within=send.confirm_within,
                sleep=self.ctx.sleep,
            )
            pane = self.store.pane(str(action.resource.id))
            if delivery.outcome is PasteOutcome.NOT_PASTED or pane is None:
                continue
            payload = {
                "length": delivery.length,
                "sha256": delivery.sha256,
                "enter": True,
                "outcome": str(delivery.outcome),
            }
            with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
                tx.input_delivered(pane, payload)

    def _stop_leftovers(self, tmux: Tmux, actions: Sequence[Action]) -> None:
        """Before a slot gets a new agent, stop what its earlier record left running: a
        pane that vanished (with its server, say) or died leaves processes that ignored
        SIGHUP, and a restart or recreate must not put a second agent on the same checkout."""
        ids: set[str] = set()
        for action in actions:
            detail = action.detail
            if isinstance(detail, Mark) and detail.stage == Stage.RECOVERY_REATTACH and action.resource.id:
                ids.add(action.resource.id)
            elif isinstance(detail, Spawn) and action.kind is Kind.CREATE_PANE:
                ids.update(i for i in (detail.predecessor_id, detail.replaces) if i)
        if ids:
            stop_processes(tmux.target, sorted(ids), self.ctx.settings.panes.kill_grace, tmux.calls)

    def _mark(self, action: Action, mark: Mark, screen: str | None = None) -> None:
        pane = self.store.pane(str(action.resource.id))
        if pane is None:
            return
        with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:  # what the reconciler saw
            if screen is not None:
                tx.set_last_output(pane.id, screen)
            if mark.stage == Stage.LAUNCH_COMMAND and mark.state == State.DEGRADED:
                payload = {"exit_code": mark.exit_code, "signal": mark.exit_signal}
                tx.emit(EventType.PANE_LAUNCH_COMMAND_EXITED, pane.layout_id, pane.id, payload)
            if pane.state == mark.state and mark.stage is not None:
                tx.restage(pane, mark.stage, action.cause, mark.exit_code)
            elif pane.state != mark.state:
                reason = action.cause if mark.stage is not None else None  # a ready pane has none
                tx.transition(pane, mark.state, stage=mark.stage, reason=reason, exit_code=mark.exit_code)
            if mark.stage == Stage.RECOVERY_REATTACH:
                tx.emit(EventType.LAYOUT_RECOVERY_FAILED, pane.layout_id, pane.id, {"reason": action.cause})
            tx.refresh_layout_state(pane.layout_id)

    def _settle(self, tmux: Tmux, settles: Sequence[Action]) -> None:
        lines = [settle_line(d.tmux_pane_id, str(a.resource.label)) for a, d in _with(settles, Settle)]
        try:
            tmux.source(lines)
        except TransientError:
            return
        with self.store.write(self.ctx.clock(), Actor.CONTROLLER) as tx:
            for action in settles:
                pane = self.store.pane(str(action.resource.id))
                if pane is not None:
                    payload = {"token": pane.marker_token}
                    tx.emit(EventType.PANE_PENDING_MARKER_CLEARED, pane.layout_id, pane.id, payload)

    def _remove(self, tmux: Tmux, removals: Sequence[Action]) -> list[AgentTowerError]:
        """kill-pane (SIGHUP, as closing a terminal does), then TERM, grace, KILL for every
        process the record started that is still there; `removed` only once both are seen
        gone. When that cannot be seen (the target did not answer), nothing is recorded:
        an indeterminate observation never writes a terminal state, and the next pass
        (or the operator's retry) checks again."""
        pairs = _with(removals, Removal)
        lines = [kill_line(d.tmux_pane_id) for _, d in pairs if d.tmux_pane_id]
        if lines:
            with contextlib.suppress(TransientError):  # the listing below decides
                tmux.source(lines)
        ids = [str(a.resource.id) for a, _ in pairs]
        stopped = stop_processes(tmux.target, ids, self.ctx.settings.panes.kill_grace, tmux.calls)
        listing = tmux.list_panes() if lines else None
        errors: list[AgentTowerError] = []
        for action, removal in pairs:
            pane = self.store.pane(str(action.resource.id))
            if pane is None:
                continue
            name = str(action.resource)
            check = kill_check(pane.id, removal, listing, stopped, self.store.instance_id)
            if check.verdict is Verdict.UNKNOWN:
                errors.append(AgentTowerError(ErrorCode.INTERNAL_ERROR, check.message(name)))
                continue
            # a prune is decided here; an operator's remove or delete is the operator's
            actor = self.ctx.actor if removal.removed_by is Actor.OPERATOR else Actor.CONTROLLER
            with self.store.write(self.ctx.clock(), actor) as tx:
                if check.verdict is Verdict.SURVIVED:
                    errors.append(AgentTowerError(ErrorCode.INTERNAL_ERROR, check.message(name)))
                    if pane.state != State.FAILED:
                        tx.transition(pane, State.FAILED, stage=Stage.TMUX_KILL, reason=check.detail)
                else:
                    tx.transition(
                        pane, State.REMOVED, removed_by=removal.removed_by, requested_action="remove"
                    )
                    payload = {
                        "cause": action.cause,
                        "tmux_pane_id": removal.tmux_pane_id,
                        "stopped_pids": list(stopped.found.get(pane.id, ())),
                    }
                    tx.emit(EventType.PANE_REMOVED, pane.layout_id, pane.id, payload)
                tx.refresh_layout_state(pane.layout_id)
        return errors


D = TypeVar("D")


def _with(actions: Sequence[Action], kind: type[D]) -> list[tuple[Action, D]]:
    """Each action with its detail, typed (a phase's actions all carry the same kind)."""
    return [(a, a.detail) for a in actions if isinstance(a.detail, kind)]


class Verdict(StrEnum):
    GONE = "gone"
    SURVIVED = "survived"  # seen still there: the kill failed
    UNKNOWN = "unknown"  # could not be seen either way


@dataclass(frozen=True)
class KillCheck:
    verdict: Verdict
    detail: str = ""

    def message(self, name: str) -> str:
        if self.verdict is Verdict.UNKNOWN:
            return f"could not confirm that pane {name} is gone ({self.detail}); nothing was recorded, retry"
        return f"pane {name} was not removed: {self.detail}"


def kill_check(
    pane_id: str, removal: Removal, listing: Listing | None, stopped: Stopped, owner: str
) -> KillCheck:
    """What the observations after a kill say about one pane, typed so that no caller
    has to read a reason string to know whether the pane is gone."""
    left = stopped.survivors.get(pane_id)
    if left:
        return KillCheck(Verdict.SURVIVED, f"process {', '.join(map(str, left))} survived SIGKILL")
    if removal.tmux_pane_id and listing is not None:
        if not listing.known:
            return KillCheck(Verdict.UNKNOWN, listing.error or "tmux did not answer")
        if any(p.pane_id == removal.tmux_pane_id and p.owner == owner for p in listing.panes):
            return KillCheck(Verdict.SURVIVED, "tmux did not kill the pane")
    if not stopped.known:
        return KillCheck(Verdict.UNKNOWN, stopped.error or "its processes could not be checked")
    return KillCheck(Verdict.GONE)
