"""Random operator sequences against a real tmux server, invariants checked after each step.

Steps: apply, delete, remove, recreate, kill a pane behind agenttower's back, and a
controller restart (a recovery pass from a fresh Session). Operations run in-process
through the same `operations`/`lifecycle` functions the CLI and the controller call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agenttower.model.errors import AgentTowerError
from agenttower.paths import Paths
from agenttower.reconcile import desired_dir as dd
from agenttower.reconcile import engine, operations
from agenttower.reconcile.reconciler import Op, Request, reconcile
from agenttower.settings import Settings, TmuxSettings
from agenttower.store.repo import Store
from tests.conftest import REAL_TMUX
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

NAMES = ("a", "b")
LABELS = ("m1", "s1", "s2")


class Agenttower(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="at-sm-", dir="/tmp"))
        self.env = {**os.environ, "TMUX_TMPDIR": str(self.root)}
        self.env.pop("TMUX", None)
        os.environ["TMUX_TMPDIR"] = str(self.root)
        os.environ.pop("TMUX", None)
        self.paths = Paths(self.root / "state", self.root / "desired", self.root / "config")
        self.settings = Settings(tmux=TmuxSettings(probe_delay=0.05))
        self.applied: set[str] = set()
        self.passed = True  # has a pass run since tmux last changed behind our back?

    def teardown(self) -> None:
        subprocess.run([REAL_TMUX or "tmux", "kill-server"], env=self.env, capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _session(self) -> Any:
        return engine.session(self.paths, self.settings)

    def _apply(self, name: str) -> None:
        pro = f"sleepy-{name}"
        launch = {f"{r}:{lbl}": pro for r, lbl in (("master", "m1"), ("slave", "s1"), ("slave", "s2"))}
        path = write(self.root / "in" / f"{name}.yaml", layout(name, launch=launch), profile(pro, SLEEP))
        incoming = dd.collect(self.paths.desired_dir, [path])
        with self._session() as s:
            reconcile(
                s, Request.from_wire({"op": "apply", "incoming": operations.incoming_to_wire(incoming)})
            )

    @rule(name=st.sampled_from(NAMES))
    def apply(self, name: str) -> None:
        self._apply(name)
        self.passed = True
        self.applied.add(name)

    @rule(name=st.sampled_from(NAMES))
    def delete(self, name: str) -> None:
        with self._session() as s:
            try:
                reconcile(s, Request.from_wire({"op": "delete", "objects": [["Layout", name]]}))
                self.applied.discard(name)
            except AgentTowerError as exc:
                assert exc.code == "managed_layout_not_found"

    @rule(
        name=st.sampled_from(NAMES),
        label=st.sampled_from(LABELS),
        verb=st.sampled_from(["remove", "recreate"]),
    )
    def lifecycle_verb(self, name: str, label: str, verb: str) -> None:
        with self._session() as s:
            try:
                reconcile(s, Request.from_wire({"op": verb, "pane": f"{name}/{label}"}))
            except AgentTowerError as exc:  # refusals are part of the contract, not failures
                assert exc.code in {
                    "managed_pane_not_found",
                    "managed_pane_illegal_transition",
                    "managed_pane_illegal_recreate_source",
                    "managed_pane_concurrent_recreate",
                }, exc.to_wire()

    @rule(index=st.integers(0, 8))
    def kill_pane_behind_our_back(self, index: int) -> None:
        out = subprocess.run(
            [REAL_TMUX or "tmux", "list-panes", "-a", "-F", "#{pane_id}"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out:
            subprocess.run(
                [REAL_TMUX or "tmux", "kill-pane", "-t", out[index % len(out)]],
                env=self.env,
                capture_output=True,
                check=False,
            )
            self.passed = False

    @rule()
    def controller_restart(self) -> None:
        """A new process: nothing in memory, the first pass is boot recovery."""
        with self._session() as s:
            desired, problems = dd.load_lenient(
                self.paths.desired_dir, engine.legacy_catalog(self.paths), dd.DirCache()
            )
            reconcile(s, Request(Op.PASS, desired=desired, problems=tuple(problems), recovery=True))
        self.passed = True

    # ---- invariants, after every step -----------------------------------------------------
    def _records(self) -> tuple[Store, list[Any]]:
        store = Store.open(self.paths.database)
        return store, store.panes()

    @invariant()
    def no_two_live_panes_share_a_label(self) -> None:
        if not self.paths.database.exists():
            return
        store, panes = self._records()
        live = [(p.layout_id, p.label) for p in panes if p.state in ("creating", "ready", "degraded")]
        store.close()
        assert len(live) == len(set(live))

    @invariant()
    def live_tmux_panes_and_records_agree(self) -> None:
        if not self.paths.database.exists():
            return
        store, panes = self._records()
        owner = store.instance_id
        store.close()
        fmt = "#{pane_id}\t#{@agenttower_pane}\t#{@agenttower_owner}"
        out = subprocess.run(
            [REAL_TMUX or "tmux", "list-panes", "-a", "-F", fmt],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        managed = [line.split("\t") for line in out.splitlines() if line.split("\t")[2:] == [owner]]
        by_id = {p.id: p for p in panes}
        for tmux_id, record, _ in managed:  # every live managed pane has exactly one non-terminal record
            assert record in by_id and by_id[record].state in ("creating", "ready", "degraded"), (
                tmux_id,
                record,
            )
        live_ids = [r for _, r, _ in managed]
        assert len(live_ids) == len(set(live_ids))
        alive = {r for _, r, _ in managed}
        for p in panes:  # no record is ready without a live pane after a pass
            if p.state == "ready" and self.passed:
                assert p.id in alive, p

    @invariant()
    def chains_and_sequences_are_consistent(self) -> None:
        if not self.paths.database.exists():
            return
        store, panes = self._records()
        events = store.events()
        store.close()
        by_id = {p.id: p for p in panes}
        for p in panes:
            if p.predecessor_id:
                pred = by_id[p.predecessor_id]
                assert pred.label == p.label and pred.layout_id == p.layout_id
                assert p.chain_depth in (0, pred.chain_depth + 1)
            else:
                assert p.chain_depth == 0
        seqs: dict[str, list[int]] = {}
        for e in events:
            if e["pane_id"]:
                seqs.setdefault(e["pane_id"], []).append(e["pane_seq"])
        for values in seqs.values():
            assert values == sorted(values) and len(values) == len(set(values))


Agenttower.TestCase.settings = settings(
    max_examples=int(os.environ.get("AGENTTOWER_STATEFUL_EXAMPLES", "12")),
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.skipif(REAL_TMUX is None, reason="tmux is not installed")
class TestAgenttowerStateMachine(Agenttower.TestCase):  # type: ignore[name-defined, misc]
    pass
