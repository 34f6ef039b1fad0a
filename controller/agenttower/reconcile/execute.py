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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import Stage, State
from agenttower.runtime.batch import kill_line, layout_line, settle_line
from agenttower.runtime.observe import Listing
from agenttower.runtime.processes import Stopped, stop_processes
from agenttower.runtime.tmux import Tmux, TransientError
from agenttower.store.repo import Store

from .actions import (
    Action,
    CreateLayout,
    CreatePane,
    HoldRestart,
    MarkPane,
    Plan,
    Recovered,
    Relayout,
    RemovePane,
    ResumePane,
    SettlePane,
    UpdateLayout,
)
from .spawn import SpawnPipeline

CONTROLLER = "controller"

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
    store: Store
    runtimes: Mapping[str, Tmux]
    logs_dir: Path
    probe_delay: float
    capacity: int
    now: Callable[[], datetime]
    actor: str
    sleep: Callable[[float], None] = time.sleep
    kill_grace: float = 5.0

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
                replace(self, store=store)._target(self.runtimes[key], actions, outcome)
        finally:
            store.close()
        return outcome

    def _target(self, tmux: Tmux, actions: Sequence[Action], outcome: Outcome) -> None:
        marks = [a for a in actions if isinstance(a, MarkPane)]
        creations = [a for a in actions if isinstance(a, CreateLayout | CreatePane | ResumePane)]
        removals = [a for a in actions if isinstance(a, RemovePane)]
        for mark in marks:
            self._mark(mark)
        self._stop_leftovers(tmux, marks, creations)
        settles = [a for a in actions if isinstance(a, SettlePane)]
        if settles:
            self._settle(tmux, settles)
        for update in (a for a in actions if isinstance(a, UpdateLayout)):
            self._update(update)
        for hold in (a for a in actions if isinstance(a, HoldRestart)):
            self._hold(hold)
        for recovered in (a for a in actions if isinstance(a, Recovered)):
            with self.store.write(self.now(), CONTROLLER) as tx:
                tx.emit(
                    "managed_layout_recovery_reattached",
                    recovered.layout_id,
                    None,
                    {"panes": list(recovered.pane_ids)},
                )
        if creations:
            pipeline = SpawnPipeline(
                self.store,
                tmux,
                self.logs_dir,
                self.probe_delay,
                self.capacity,
                self.now,
                self.actor,
                self.sleep,
            )
            outcome.errors.extend(pipeline.run(creations))
        relayouts = [a for a in actions if isinstance(a, Relayout)]
        if relayouts:
            with contextlib.suppress(TransientError):  # cosmetic: the next change retries
                tmux.source([layout_line(a.anchor, a.tmux_layout) for a in relayouts])
        if removals:
            outcome.errors.extend(self._remove(tmux, removals))

    def _stop_leftovers(self, tmux: Tmux, marks: Sequence[MarkPane], creations: Sequence[Action]) -> None:
        """Before a slot gets a new agent, stop what its earlier record left running: a
        pane that vanished (with its server, say) or died leaves processes that ignored
        SIGHUP, and a restart or recreate must not put a second agent on the same checkout."""
        ids = {m.pane_id for m in marks if m.stage == Stage.RECOVERY_REATTACH}
        for action in creations:
            if isinstance(action, CreatePane):
                ids.update(i for i in (action.predecessor_id, action.replaces) if i)
        if ids:
            stop_processes(tmux.target, sorted(ids), self.kill_grace, tmux.calls)

    def _update(self, action: UpdateLayout) -> None:
        layout = action.layout
        with self.store.write(self.now(), self.actor) as tx:
            tx.update_layout_spec(
                action.layout_id,
                layout.spec,
                layout.source.file if layout.source else None,
                layout.to_json(),
                layout.fingerprint(),
            )

    def _mark(self, action: MarkPane) -> None:
        pane = self.store.pane(action.pane_id)
        if pane is None:
            return
        with self.store.write(self.now(), CONTROLLER) as tx:  # what the reconciler saw
            if action.stage == Stage.LAUNCH_COMMAND and action.state == State.DEGRADED:
                payload = {"exit_code": action.exit_code, "signal": action.exit_signal}
                tx.emit("managed_pane_launch_command_exited", pane.layout_id, pane.id, payload)
            if pane.state == action.state:
                tx.restage(pane, action.stage, action.cause, action.exit_code)
            else:
                tx.transition(
                    pane,
                    State(action.state),
                    stage=action.stage,
                    reason=action.cause,
                    exit_code=action.exit_code,
                )
            if action.stage == Stage.RECOVERY_REATTACH:
                tx.emit("managed_layout_recovery_failed", pane.layout_id, pane.id, {"reason": action.cause})
            tx.refresh_layout_state(pane.layout_id)

    def _hold(self, action: HoldRestart) -> None:
        pane = self.store.pane(action.pane_id)
        if pane is None:
            return
        with self.store.write(self.now(), CONTROLLER) as tx:
            tx.hold_restart(pane, action.next_restart_at, action.restarts_in_a_row, action.delay_ms)

    def _settle(self, tmux: Tmux, settles: Sequence[SettlePane]) -> None:
        try:
            tmux.source([settle_line(a.tmux_pane_id, a.label) for a in settles])
        except TransientError:
            return
        with self.store.write(self.now(), CONTROLLER) as tx:
            for action in settles:
                pane = self.store.pane(action.pane_id)
                if pane is not None:
                    tx.emit(
                        "managed_pane_pending_marker_cleared",
                        pane.layout_id,
                        pane.id,
                        {"token": pane.marker_token},
                    )

    def _remove(self, tmux: Tmux, removals: Sequence[RemovePane]) -> list[AgentTowerError]:
        """kill-pane (SIGHUP, as closing a terminal does), then TERM, grace, KILL for every
        process the record started that is still there; `removed` only once both are seen
        gone. When that cannot be seen (the target did not answer), nothing is recorded:
        an indeterminate observation never writes a terminal state, and the next pass
        (or the operator's retry) checks again."""
        lines = [kill_line(a.tmux_pane_id) for a in removals if a.tmux_pane_id]
        if lines:
            with contextlib.suppress(TransientError):  # the listing below decides
                tmux.source(lines)
        stopped = stop_processes(tmux.target, [a.pane_id for a in removals], self.kill_grace, tmux.calls)
        listing = tmux.list_panes() if lines else None
        errors: list[AgentTowerError] = []
        for action in removals:
            pane = self.store.pane(action.pane_id)
            if pane is None:
                continue
            check = kill_check(action, listing, stopped, self.store.instance_id)
            if check.verdict is Verdict.UNKNOWN:
                errors.append(AgentTowerError(ErrorCode.INTERNAL_ERROR, check.message(action.name)))
                continue
            actor = self.actor if action.removed_by == "operator" else CONTROLLER  # a prune is decided here
            with self.store.write(self.now(), actor) as tx:
                if check.verdict is Verdict.SURVIVED:
                    errors.append(AgentTowerError(ErrorCode.INTERNAL_ERROR, check.message(action.name)))
                    if pane.state != State.FAILED:
                        tx.transition(pane, State.FAILED, stage=Stage.TMUX_KILL, reason=check.detail)
                else:
                    tx.transition(
                        pane, State.REMOVED, removed_by=action.removed_by, requested_action="remove"
                    )
                    tx.emit(
                        "managed_pane_removed",
                        pane.layout_id,
                        pane.id,
                        {
                            "cause": action.cause,
                            "tmux_pane_id": action.tmux_pane_id,
                            "stopped_pids": list(stopped.found.get(pane.id, ())),
                        },
                    )
                tx.refresh_layout_state(pane.layout_id)
        return errors


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


def kill_check(action: RemovePane, listing: Listing | None, stopped: Stopped, owner: str) -> KillCheck:
    """What the observations after a kill say about one pane, typed so that no caller
    has to read a reason string to know whether the pane is gone."""
    left = stopped.survivors.get(action.pane_id)
    if left:
        return KillCheck(Verdict.SURVIVED, f"process {', '.join(map(str, left))} survived SIGKILL")
    if action.tmux_pane_id and listing is not None:
        if not listing.known:
            return KillCheck(Verdict.UNKNOWN, listing.error or "tmux did not answer")
        if any(p.pane_id == action.tmux_pane_id and p.owner == owner for p in listing.panes):
            return KillCheck(Verdict.SURVIVED, "tmux did not kill the pane")
    if not stopped.known:
        return KillCheck(Verdict.UNKNOWN, stopped.error or "its processes could not be checked")
    return KillCheck(Verdict.GONE)
