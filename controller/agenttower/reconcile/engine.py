"""A reconcile pass end to end, for whoever runs it (the CLI now, the controller later):
lock, load the desired dir, observe each target once, plan, execute, write the audit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agenttower.events import audit
from agenttower.model.desired import Desired
from agenttower.model.errors import AgentTowerError
from agenttower.model.legacy import LegacyCatalog, load_legacy
from agenttower.model.resolved import Target
from agenttower.paths import Paths
from agenttower.runtime.observe import Listing
from agenttower.runtime.target import ExecTarget, host_target_for_key
from agenttower.runtime.tmux import Tmux
from agenttower.store.repo import Store

from . import desired_dir
from .actions import Plan
from .execute import Executor
from .lock import reconciler_lock
from .plan import PlanSettings, Snapshot, plan
from .settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassResult:
    plan: Plan
    observed: Mapping[str, Listing]
    errors: list[AgentTowerError] = field(default_factory=list)
    invocations: int = 0


def load_desired(paths: Paths, incoming: Iterable[desired_dir.Incoming] = ()) -> Desired:
    legacy: LegacyCatalog = load_legacy(paths.legacy_templates_dir, paths.legacy_profiles_dir)
    return desired_dir.load(paths.desired_dir, legacy, incoming)


@dataclass
class Session:
    """Everything a pass needs while it holds the reconciler lock."""

    paths: Paths
    settings: Settings
    store: Store
    actor: str
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    runtimes: dict[str, Tmux] = field(default_factory=dict)

    def runtime(self, key: str, target: Target | None = None) -> Tmux:
        if key not in self.runtimes:
            spec = target or host_target_for_key(key)
            self.runtimes[key] = Tmux(
                ExecTarget(spec, self.settings.tmux_binary), timeout=self.settings.stage_timeout
            )
        return self.runtimes[key]

    def snapshot(self) -> Snapshot:
        layouts = tuple(self.store.layouts())
        ids = {rec.id for rec in layouts}
        return Snapshot(layouts, tuple(p for p in self.store.panes() if p.layout_id in ids))

    def observe(self, desired: Desired, snapshot: Snapshot) -> dict[str, Listing]:
        """One listing per target that the desired state or the records mention."""
        for layout in desired.layouts.values():
            self.runtime(layout.target.key, layout.target)
        for rec in snapshot.layouts:
            self.runtime(rec.target_key)
        return {key: tmux.list_panes() for key, tmux in sorted(self.runtimes.items())}

    def plan(
        self,
        desired: Desired,
        snapshot: Snapshot,
        observed: Mapping[str, Listing],
        deletes: Iterable[str] = (),
    ) -> Plan:
        settings = PlanSettings(self.settings.creating_ttl, self.settings.capacity)
        return plan(
            desired.layouts, snapshot, observed, self.store.instance_id, self.clock(), deletes, settings
        )

    def execute(self, result: PassResult) -> None:
        executor = Executor(
            self.store,
            self.runtimes,
            self.paths.logs_dir,
            self.settings.probe_delay,
            self.settings.capacity,
            self.clock,
            self.actor,
            self.sleep,
        )
        result.errors.extend(executor.execute(result.plan).errors)
        self.flush_audit()
        result.invocations = self.invocations()

    def invocations(self) -> int:
        return sum(t.invocations for t in self.runtimes.values())

    def flush_audit(self) -> None:
        """Outbox -> JSONL exactly once: the file's last event says what is already in it."""
        rows = self.store.unwritten_events()
        if not rows:
            return
        last = audit.repair_tail(self.paths.audit_file)
        done = self.store.event_seq_of(last) if last else None
        if done is not None:
            rows = [row for row in rows if row[0] > done]
        audit.append(self.paths.audit_file, [body for _, _, body in rows])
        self.store.mark_written_through(max(done or 0, rows[-1][0] if rows else 0))

    def run_pass(self, desired: Desired, deletes: Iterable[str] = ()) -> PassResult:
        snapshot = self.snapshot()
        observed = self.observe(desired, snapshot)
        result = PassResult(self.plan(desired, snapshot, observed, deletes), observed)
        self.execute(result)
        return result


@contextmanager
def session(paths: Paths, settings: Settings, actor: str = "operator") -> Iterator[Session]:
    paths.ensure_state_dir()
    with reconciler_lock(paths.lock_file, settings.lock_timeout):
        store = Store.open(paths.database)
        try:
            yield Session(paths, settings, store, actor)
        finally:
            store.close()
