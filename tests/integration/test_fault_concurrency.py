"""Fault suite, concurrency: 8 `apply --wait` at once (the same manifest and others),
with concurrent `get`, `describe` and `diff`, with and without a running controller.

Every command is a real process (`python -m agenttower`), all started together. Each
must exit with a code of the documented set for its verb (apply: 0, nothing in these
rounds may fail; get: 0; describe: 0, or 1 `managed_layout_not_found` before the layout
exists; diff: 0 or 1), print no traceback and never "database is locked"; after each
round the invariants of tests/invariants.py hold and every slot has exactly one pane.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import fault_report
from tests.conftest import AtCli, Env
from tests.integration.test_controller import Controller
from tests.invariants import records, tmux_lister, violations
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

LABELS = {"1m+2s": ("m1", "s1", "s2"), "2m+2s": ("m1", "m2", "s1", "s2")}


@pytest.fixture(autouse=True)
def _short_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTTOWER_PROBE_DELAY", "100ms")


@dataclass
class Run:
    args: tuple[str, ...]
    proc: subprocess.Popen[str]
    code: int = -1
    out: str = ""
    err: str = ""

    @property
    def verb(self) -> str:
        return self.args[0]

    def problem(self) -> str | None:
        text = self.out + self.err
        if "Traceback" in text or "locked" in text.lower() or "internal_error" in text:
            return f"{' '.join(self.args)}: {text[-800:]}"
        allowed = {"apply": {0}, "get": {0}, "describe": {0, 1}, "diff": {0, 1}}[self.verb]
        if self.code not in allowed:
            return f"{' '.join(self.args)} exited {self.code}: {text[-800:]}"
        if self.verb == "describe" and self.code == 1 and "managed_layout_not_found" not in self.err:
            return f"{' '.join(self.args)} exited 1: {self.err[-800:]}"
        return None


def manifest(env: Env, name: str, template: str = "1m+2s") -> Path:
    launch = {f"{'master' if x.startswith('m') else 'slave'}:{x}": f"{name}-p" for x in LABELS[template]}
    return write(
        env.root / f"{name}.yaml", layout(name, template, launch=launch), profile(f"{name}-p", SLEEP)
    )


def together(commands: list[tuple[str, ...]]) -> list[Run]:
    runs = [
        Run(
            args,
            subprocess.Popen(
                [sys.executable, "-m", "agenttower", *args],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in commands
    ]
    for run in runs:
        run.out, run.err = run.proc.communicate(timeout=180)
        run.code = run.proc.returncode
    return runs


def round_of(env: Env, applies: list[Path], expect: dict[str, str]) -> list[str]:
    """8 applies and 6 reads at once; what went wrong (empty: nothing)."""
    team = applies[0]
    commands: list[tuple[str, ...]] = [("apply", "-f", str(p), "--wait") for p in applies]
    commands += [("get", "panes"), ("get", "layouts", "-o", "json"), ("describe", "layout", "team")]
    commands += [("diff", "-f", str(team)), ("get", "panes", "-A", "-o", "wide"), ("diff",)]
    runs = together(commands)
    problems = [p for p in (run.problem() for run in runs) if p]
    problems += violations(env.state_dir, {"host": tmux_lister(env.tmux)})
    live = Counter(r.layout for r in records(env.state_dir) if r.state == "ready")
    wanted = {name: len(LABELS[tpl]) for name, tpl in expect.items()}
    if dict(live) != wanted:
        problems.append(f"ready panes per layout {dict(live)}, wanted {wanted}")
    sessions = Counter(p["session"] for p in env.panes())
    if dict(sessions) != wanted:
        problems.append(f"tmux panes per session {dict(sessions)}, wanted {wanted}")
    bad = len([run for run in runs if run.problem()])
    fault_report.tried("concurrency", True, len(runs) - bad if not problems else 0)
    fault_report.tried("concurrency", False, len(runs) if problems else bad)
    return problems


def rounds(env: Env) -> Iterator[list[str]]:
    team, other, third = (manifest(env, n) for n in ("team", "other", "third"))
    yield round_of(
        env, [team] * 5 + [other] * 2 + [third], {"team": "1m+2s", "other": "1m+2s", "third": "1m+2s"}
    )
    grown = manifest(env, "team", "2m+2s")  # the same file now says 2m+2s: one more pane
    expect = {"team": "2m+2s", "other": "1m+2s", "third": "1m+2s"}
    yield round_of(env, [grown] * 4 + [other] * 3 + [third], expect)


def test_fr020_eight_concurrent_applies_and_reads_without_a_controller(env: Env, at: type[AtCli]) -> None:
    for problems in rounds(env):
        assert not problems, "\n".join(problems)


def test_fr020_eight_concurrent_applies_and_reads_handed_to_a_controller(env: Env, at: type[AtCli]) -> None:
    ctl = Controller(env).start()
    try:
        for problems in rounds(env):
            assert not problems, "\n".join(problems) + "\n" + ctl.text()[-2000:]
        assert "op=apply" in ctl.text()  # the applies were handed over, not run in-process
    finally:
        ctl.stop()
