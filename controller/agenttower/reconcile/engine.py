"""A reconcile pass end to end, for whoever runs it (the CLI or the controller):
lock, load the desired dir, observe each target once, plan, execute, write status and
the audit trail.

Targets are observed in parallel (one `docker exec` per container costs ~80 ms, so a
pass over several containers should cost one of them, not their sum). Callers do not
run a pass by hand: they send `reconciler.reconcile()` a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from agenttower.events import outbox
from agenttower.events.types import EventType
from agenttower.model.desired import Desired, Problem
from agenttower.model.durations import rfc3339
from agenttower.model.errors import AgentTowerError
from agenttower.model.legacy import LegacyCatalog, load_legacy
from agenttower.model.lifecycle import Actor, State
from agenttower.model.resolved import DesiredLayout, Target
from agenttower.paths import Paths
from agenttower.runtime import screen
from agenttower.runtime.calls import Calls
from agenttower.runtime.observe import Listing, Screen
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from agenttower.settings import Settings
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes
from agenttower.store.repo import Store

from . import activity, desired_dir, fresh_state, log_rotation, logs, selection, status
from .actions import Plan
from .context import PassContext
from .execute import Executor
from .live import Seen, Source
from .lock import reconciler_lock
from .plan import Operation, Snapshot, plan
from .plan_memo import PlanMemo
from .targets import server_targets


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassResult:
    plan: Plan
    observed: Mapping[str, Listing]
    errors: list[AgentTowerError] = field(default_factory=list)
    invocations: int = 0
    problems: tuple[Problem, ...] = ()
    held: tuple[str, ...] = ()


def legacy_catalog(paths: Paths) -> LegacyCatalog:
    return load_legacy(paths.legacy_templates_dir, paths.legacy_profiles_dir)


def load_desired(paths: Paths, incoming: Iterable[desired_dir.Incoming] = ()) -> Desired:
    """Strict: the first broken rule anywhere raises (apply, diff, delete)."""
    return desired_dir.load(paths.desired_dir, legacy_catalog(paths), incoming)


def hold(
    desired: Desired, problems: Iterable[Problem], snapshot: Snapshot
) -> tuple[Desired, tuple[str, ...]]:
    """Layouts whose manifest is broken stay at their last good spec: never applied anew,
    never pruned. Their last good spec is the one the store recorded."""
    problems = tuple(problems)
    names = {n for p in problems for n in p.layouts}
    files = {p.file for p in problems}
    held: dict[str, DesiredLayout] = {}
    for rec in snapshot.layouts:
        if rec.name in desired.layouts or not rec.resolved:
            continue
        if rec.name in names or (rec.source_file in files):
            held[rec.name] = DesiredLayout.from_json(rec.resolved)
    if not held:
        return desired, ()
    return replace(desired, layouts={**desired.layouts, **held}), tuple(sorted(held))


def problem_messages(problems: Iterable[Problem], snapshot: Snapshot) -> dict[str, str]:
    """layout name -> why it is stalled (file:line: message)."""
    messages: dict[str, str] = {}
    for problem in problems:
        text = problem.error.located_message()
        for name in problem.layouts:
            messages[name] = text
        for rec in snapshot.layouts:
            if rec.source_file == problem.file and rec.name not in messages and not problem.layouts:
                messages[rec.name] = text
    return messages


@dataclass
class Session:
    """Everything a pass needs while it holds the reconciler lock."""

    paths: Paths
    settings: Settings
    store: Store
    actor: Actor
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    runtimes: dict[str, Tmux] = field(default_factory=dict)
    seen: dict[str, Seen] = field(default_factory=dict)  # per target: the last pass's observation
    # listings made moments before the first pass (the fresh-database check): used once,
    # so that check costs no tmux call of its own
    prefetched: dict[str, Listing] = field(default_factory=dict)
    calls: Calls = field(default_factory=Calls)  # every tmux child: the verb's deadline, stop()
    captured: dict[str, datetime] = field(default_factory=dict)  # per target: its screens last read
    screens_seen: dict[str, dict[str, str]] = field(default_factory=dict)  # what they showed then
    logs_checked: datetime | None = None  # when rotate_logs last looked at the logs' sizes
    remote_logs_checked: dict[str, datetime] = field(default_factory=dict)  # per ssh target
    memo: PlanMemo = field(default_factory=PlanMemo)  # the last pass's plan, while it holds
    status_held: tuple[object, ...] | None = None  # what the conditions were last found as recorded from

    def __post_init__(self) -> None:
        if self.sleep is time.sleep:  # probe and retry waits end at the deadline or on stop
            self.sleep = self.calls.sleep

    def runtime(self, key: str, target: Target | None = None) -> Tmux:
        """The runtime of a target key. The key alone lacks a container's user and socket,
        so `target` wins (observe passes the one `server_targets` chose), then a layout
        record's stored spec, then the key."""
        cached = self.runtimes.get(key)
        if cached is not None and (target is None or cached.target.target == target):
            return cached
        spec = target or self._recorded_target(key)
        self.runtimes[key] = Tmux(
            ExecTarget(spec, self.settings.tmux.binary),
            timeout=self.settings.tmux.stage_timeout,
            invocations=cached.invocations if cached else 0,  # the pass's call count stays whole
            calls=self.calls,
        )
        return self.runtimes[key]

    def _recorded_target(self, key: str) -> Target:
        for rec in reversed(self.store.layouts(include_removed=True)):
            if rec.target_key == key and rec.resolved:
                return Target.of_record(key, rec.resolved)
        return Target.of_key(key)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            tuple(self.store.layouts()), tuple(self.store.live_layout_panes()), self.store.delivered_inputs()
        )

    def selected(self, desired: Desired) -> Desired:
        """The layouts this reconciler takes on (reconcile/selection.py): every pass
        observes and plans these, whoever asked for it."""
        return selection.select(desired, self.settings.loop.target_host)

    def observe(self, desired: Desired, snapshot: Snapshot) -> dict[str, Listing]:
        """One listing per target that the desired state or the records mention, all
        targets at once (each is its own process; nothing here touches SQLite)."""
        desired = self.selected(desired)
        wanted = {
            key: target for key, (_, target) in server_targets(desired.layouts, snapshot.layouts).items()
        }
        runtimes = {key: self.runtime(key, target) for key, target in sorted(wanted.items())}
        at = rfc3339(self.clock())
        ready = {key: self.prefetched.pop(key) for key in list(self.prefetched) if key in runtimes}
        self.prefetched.clear()
        runtimes = {key: tmux for key, tmux in runtimes.items() if key not in ready}
        if len(runtimes) <= 1:
            observed = {key: tmux.list_panes() for key, tmux in runtimes.items()}
        else:
            with ThreadPoolExecutor(max_workers=min(len(runtimes), 16), thread_name_prefix="observe") as pool:
                futures = {key: pool.submit(tmux.list_panes) for key, tmux in runtimes.items()}
                observed = {key: future.result() for key, future in futures.items()}
        observed = self._screens({**ready, **observed}, desired, snapshot)
        # a new dict, swapped in whole: the controller's socket thread reads it unlocked
        self.seen = {**self.seen, **{k: Seen.of(v, at, Source.CONTROLLER) for k, v in observed.items()}}
        return observed

    def _screens(
        self, observed: dict[str, Listing], desired: Desired, snapshot: Snapshot
    ) -> dict[str, Listing]:
        """The screens of the watched panes (activity.watched) of each target whose last
        read is a screen period old: one invocation per target, laid on its listing."""
        now = self.clock()
        period = timedelta(seconds=self.settings.agents.screen_period * 0.95)  # a pass due at the period
        wanted = activity.watched(
            desired.layouts, snapshot.layouts, snapshot.panes, observed, self.store.instance_id
        )
        for key, pane_ids in sorted(wanted.items()):
            last = self.captured.get(key)
            if last is not None and now - last < period:
                continue
            self.captured[key] = now
            texts = screen.capture(self.runtime(key), pane_ids)
            before = self.screens_seen.get(key, {})
            screens = {pane_id: Screen(text, before.get(pane_id)) for pane_id, text in texts.items()}
            self.screens_seen[key] = dict(texts)
            observed[key] = replace(observed[key], screens=screens)
        return observed

    def plan(
        self,
        desired: Desired,
        snapshot: Snapshot,
        observed: Mapping[str, Listing],
        deletes: Iterable[str] = (),
        protected: Iterable[str] = (),
        recovery: bool = False,
        operations: Iterable[Operation] = (),
    ) -> Plan:
        desired = self.selected(desired)
        deletes, protected, operations = tuple(deletes), tuple(protected), tuple(operations)
        if not (deletes or protected or operations):  # a pass: its last plan may still hold
            owner, now = self.store.instance_id, self.clock()
            return self.memo.plan(
                desired.layouts, snapshot, observed, owner, now, self.settings, recovery, desired.outside
            )
        return plan(
            desired.layouts,
            snapshot,
            observed,
            self.store.instance_id,
            self.clock(),
            deletes,
            self.settings,
            protected,
            recovery,
            operations,
            desired.outside,
        )

    def context(self) -> PassContext:
        return PassContext(self.store, self.paths.logs_dir, self.settings, self.clock, self.actor, self.sleep)

    def execute(self, result: PassResult, before: Snapshot | None = None) -> None:
        if before is None and result.plan.actions:  # to find the layouts these actions remove
            before = self.snapshot()
        result.errors.extend(Executor(self.context(), self.runtimes).execute(result.plan).errors)
        self.write_activity(result.plan)
        self.rotate_logs()
        self.write_status(result, before)
        self.flush_audit()
        result.invocations = self.invocations()

    def write_activity(self, plan: Plan) -> None:
        """What the agents do now, each change with its event, in one transaction."""
        if not plan.activity:
            return
        with self.store.write(self.clock(), Actor.CONTROLLER) as tx:
            for update in plan.activity:
                pane = self.store.pane(update.pane_id)
                if pane is not None and pane.activity == update.before:
                    verdict = update.verdict
                    tx.set_activity(pane, verdict.activity, verdict.reason, verdict.source)

    def rotate_logs(self) -> None:
        """Each live pane's log past its cap is rotated (reconcile/log_rotation.py): one
        stat per pane here, no tmux call; each rotation is an event. A session looks again
        only `LogSettings.check_every` after its last look. The logs on an ssh host (or in
        a container there) are rotated there, one call per target, at most every
        `LogSettings.remote_check_every` and never at a session's first look: a CLI
        verb's one pass leaves them to the controller."""
        now = self.clock()
        every = timedelta(seconds=self.settings.logs.check_every)
        if self.logs_checked is not None and now - self.logs_checked < every:
            return
        self.logs_checked = now
        live = [p for p in self.store.live_layout_panes() if p.log_path and p.state != State.REMOVED]
        local = [p for p in live if not logs.on_remote_host(str(p.log_path))]
        paths = sorted({str(p.log_path) for p in local})
        rotated = {str(r.path): r for r in log_rotation.rotate_all(paths, self.settings.logs)}
        done = _claimed(local, rotated)
        done += self._rotate_remote(now, [p for p in live if logs.on_remote_host(str(p.log_path))])
        if not done:
            return
        with self.store.write(self.clock(), Actor.CONTROLLER) as tx:
            for pane, log in done:
                tx.emit(
                    EventType.PANE_LOG_ROTATED,
                    pane.layout_id,
                    pane.id,
                    {"path": str(log.path), "bytes": log.size, "kept": log.kept},
                )

    def _rotate_remote(
        self, now: datetime, panes: list[PaneRecord]
    ) -> list[tuple[PaneRecord, log_rotation.Rotated]]:
        """Per target (its records name the same `~/...` paths as another host's do)."""
        if not panes:
            return []  # no ssh target: no read of the layouts either
        keys = {rec.id: rec.target_key for rec in self.store.layouts()}
        by_target: dict[str, list[PaneRecord]] = {}
        for pane in panes:
            if pane.layout_id in keys:
                by_target.setdefault(keys[pane.layout_id], []).append(pane)
        period = timedelta(seconds=self.settings.logs.remote_check_every)
        done: list[tuple[PaneRecord, log_rotation.Rotated]] = []
        for key, group in sorted(by_target.items()):
            if now - self.remote_logs_checked.setdefault(key, now) < period:
                continue  # first sight, or looked at less than a period ago
            self.remote_logs_checked[key] = now
            paths = sorted({str(p.log_path) for p in group})
            found = log_rotation.rotate_remote(
                self.runtime(key).target, paths, self.settings.logs, self.calls
            )
            done += _claimed(group, {str(r.path): r for r in found})
        return done

    def write_status(self, result: PassResult, before: Snapshot | None = None) -> None:
        """Conditions from the records as the pass left them (re-read only if it wrote).
        They are a function of those records, the plan and the problems (the clock only
        stamps a condition that changed), so a pass that found them all as recorded does
        not work them out again while all three are as they were."""
        snapshot = before if before is not None and not result.plan.actions else self.snapshot()
        inputs = (snapshot, result.plan, result.problems)
        if inputs == self.status_held:
            return
        self.status_held = inputs if self._write_conditions(result, before, snapshot) == 0 else None

    def _write_conditions(self, result: PassResult, before: Snapshot | None, snapshot: Snapshot) -> int:
        messages = problem_messages(result.problems, snapshot)
        now = rfc3339(self.clock())
        by_layout: dict[str, list[PaneRecord]] = {}
        for pane in snapshot.panes:
            by_layout.setdefault(pane.layout_id, []).append(pane)
        updates = []
        for rec in [*snapshot.layouts, *self._removed_since(before, snapshot)]:
            panes = current_panes(by_layout.get(rec.id, [])).values()
            conditions, observed = status.compute(rec, panes, result.plan, messages, now)
            if status.changed(rec, conditions, observed):
                updates.append((rec.id, conditions, observed))
        if updates:
            with self.store.write(self.clock(), self.actor) as tx:
                for layout_id, conditions, observed in updates:
                    tx.set_status(layout_id, conditions, observed)
        return len(updates)

    def _removed_since(self, before: Snapshot | None, after: Snapshot) -> list[LayoutRecord]:
        """Layouts this pass removed: they leave the live snapshot, but their Ready
        condition must still turn False (a deleted layout is not ready)."""
        if before is None or before is after:
            return []
        live = {rec.id for rec in after.layouts}
        gone = (self.store.layout(rec.id) for rec in before.layouts if rec.id not in live)
        return [rec for rec in gone if rec is not None and rec.state == State.REMOVED]

    def invocations(self) -> int:
        return sum(t.invocations for t in self.runtimes.values())

    def flush_audit(self) -> None:
        outbox.flush(self.paths.audit_file, self.store)

    def run_pass(
        self,
        desired: Desired,
        deletes: Iterable[str] = (),
        problems: Iterable[Problem] = (),
        recovery: bool = False,
    ) -> PassResult:
        problems = tuple(problems)
        calls_before = self.invocations()
        snapshot = self.snapshot()
        desired, held = hold(desired, problems, snapshot)
        observed = self.observe(desired, snapshot)
        result = PassResult(
            self.plan(desired, snapshot, observed, deletes, held, recovery),
            observed,
            problems=problems,
            held=held,
        )
        self.execute(result, snapshot)
        result.invocations -= calls_before
        return result


def _claimed(
    panes: list[PaneRecord], rotated: dict[str, log_rotation.Rotated]
) -> list[tuple[PaneRecord, log_rotation.Rotated]]:
    """Each rotated log with the first pane record naming it (a slot's old and new record
    may share the path: one event)."""
    done = []
    for pane in panes:
        log = rotated.pop(str(pane.log_path), None)
        if log is not None:
            done.append((pane, log))
    return done


@contextmanager
def session(paths: Paths, settings: Settings, actor: Actor = Actor.OPERATOR) -> Iterator[Session]:
    paths.ensure_state_dir()
    with (
        reconciler_lock(paths.lock_file, settings.verbs.lock_timeout),
        session_unlocked(paths, settings, actor) as s,
    ):
        yield s


@contextmanager
def session_unlocked(paths: Paths, settings: Settings, actor: Actor = Actor.OPERATOR) -> Iterator[Session]:
    """A Session for a caller that already holds the reconciler lock."""
    listed = fresh_state.refuse_if_orphaning(paths, settings)
    store = Store.open(paths.database)
    try:
        yield Session(paths, settings, store, actor, prefetched=listed)
    finally:
        store.close()


@contextmanager
def read_only(paths: Paths, settings: Settings) -> Iterator[Session]:
    """A Session that takes no lock and changes nothing (`diff`): its store is opened
    for reading, and nothing it plans is executed."""
    store = Store.open_for_reading(paths.database)
    try:
        yield Session(paths, settings, store, Actor.OPERATOR)
    finally:
        store.close()
