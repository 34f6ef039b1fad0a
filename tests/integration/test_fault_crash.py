"""Fault suite, crash injection: SIGKILL `apply --wait`, the controller or `delete` at
seeded instants, run one recovery pass, then check every invariant of tests/invariants.py.

Each trial draws its instant from `random.Random(f"{SEED}:{trial}")`
(tests/fault_report.py: AGENTTOWER_FAULT_SEED replays a run), one of:

- `call N`: the N-th tmux call hangs (the PATH shim's AT_HANG_AT) and the process is
  killed once it is made: before the first observation, right after the `creating`
  records are committed (the spawn batch), before the settle batch, before a delete's
  kill batch or its check;
- `creating`: the store is polled for `creating` rows, and the process is killed a
  seeded 0-50 ms after they appear (inside the spawn batch or the launch probe);
- `time T`: killed T seconds (seeded, 0-0.6 s) after its first tmux call, wherever it is.

30 trials per run (300 with AGENTTOWER_SOAK=1), a third of each kind.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import fault_report
from tests.conftest import AtCli, Env
from tests.invariants import records, tmux_lister, violations
from tests.manifests import SLEEP, layout, profile, write

pytestmark = [pytest.mark.tmux, pytest.mark.usefixtures("fast")]

TRIALS = 300 if fault_report.SOAK else 30
KINDS = ("apply", "controller", "delete")
LABELS = ("master:m1", "slave:s1", "slave:s2")


@dataclass(frozen=True)
class Instant:
    mode: str  # "call" | "creating" | "time"
    call: int = 0
    delay: float = 0.0

    def __str__(self) -> str:
        if self.mode == "call":
            return f"call {self.call} (+{self.delay:.3f}s)"
        return f"{self.mode} (+{self.delay:.3f}s)"


def draw(rng: random.Random, kind: str) -> Instant:
    modes = ["call", "time"] if kind == "delete" else ["call", "creating", "time"]
    mode = rng.choice(modes)
    if mode == "call":
        return Instant("call", rng.randint(1, 4), rng.uniform(0, 0.1))
    if mode == "creating":
        return Instant("creating", delay=rng.uniform(0, 0.05))
    return Instant("time", delay=rng.uniform(0, 0.6))


def start(args: list[str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agenttower", *args],
        env={**os.environ, **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def has_creating(env: Env) -> bool:
    db = env.state_dir / "agenttower.sqlite3"
    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)) as conn:
            return conn.execute("SELECT 1 FROM panes WHERE state='creating' LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:
        return False  # not created yet, or mid-migration


def kill_at(env: Env, proc: subprocess.Popen[bytes], instant: Instant) -> None:
    """Wait for the instant's event (or for the process to end on its own), then SIGKILL
    its whole process group (the tmux clients it started, a hung shim included)."""

    def reached() -> bool:
        if instant.mode == "call":
            return len(env.tmux_calls()) >= instant.call
        if instant.mode == "creating":
            return has_creating(env)
        return len(env.tmux_calls()) >= 1

    deadline = time.monotonic() + 30
    while not reached() and proc.poll() is None:
        assert time.monotonic() < deadline, f"{instant} never came: {env.tmux_calls()}"
        time.sleep(0.005)
    time.sleep(instant.delay)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def sleepy(name: str, template: str = "1m+2s", **spec: object) -> list[dict[str, object]]:
    labels = LABELS if template == "1m+2s" else ("master:m1", "master:m2", "slave:s1", "slave:s2")
    return [
        layout(name, template, launch=dict.fromkeys(labels, f"{name}-sleep"), **spec),
        profile(f"{name}-sleep", SLEEP),
    ]


def keep_layout(env: Env) -> Path:
    """A second layout, so the desired dir is never empty (an empty one prunes nothing)."""
    one = [{"role": "m", "capability": "c", "labelPattern": "k1", "launch": "keep-sleep"}]
    return write(env.desired_dir / "keep.yaml", layout("keep", None, panes=one), profile("keep-sleep", SLEEP))


def ok(at: type[AtCli], *args: str) -> None:
    result = at.run(*args)
    assert result.exit_code == 0, result.output + result.stderr


def crash(
    env: Env, at: type[AtCli], kind: str, rng: random.Random, instant: Instant
) -> tuple[str, list[str]]:
    """Set up, kill at `instant`, and return (what was done, the recovery pass's argv)."""
    if kind == "apply":
        path = write(env.root / "team.yaml", *sleepy("team"))
        kill_at(env, start(["apply", "-f", str(path), "--wait"], AT_HANG_AT=hang(instant)), instant)
        return "apply --wait", ["apply", "-f", str(path)]
    if kind == "controller":
        variant = rng.choice(("boot", "grow", "restart"))
        if variant == "boot":  # a manifest the controller has never seen
            write(env.desired_dir / "team.yaml", *sleepy("team"))
        elif variant == "grow":  # 1m+2s applied, the desired dir now says 2m+2s
            ok(at, "apply", "-f", str(write(env.root / "team.yaml", *sleepy("team"))))
            write(env.desired_dir / "team.yaml", *sleepy("team", "2m+2s"))
        else:  # restartPolicy Always and a pane killed behind its back
            ok(at, "apply", "-f", str(write(env.root / "team.yaml", *sleepy("team", restartPolicy="Always"))))
            victim = next(r for r in records(env.state_dir) if r.label == "s1")
            assert victim.tmux_pane_id is not None
            env.tmux("kill-pane", "-t", victim.tmux_pane_id)
        keep_layout(env)
        env.reset_calls()
        proc = start(["controller", "run", "--resync", "2s"], AT_HANG_AT=hang(instant))
        kill_at(env, proc, instant)
        return f"controller run ({variant})", ["apply", "-f", str(env.desired_dir)]
    ok(at, "apply", "-f", str(write(env.root / "team.yaml", *sleepy("team"))))
    ok(at, "apply", "-f", str(keep_layout(env)))
    env.reset_calls()
    how = rng.choice((["delete", "layout", "team"], ["delete", "-f", str(env.desired_dir / "team.yaml")]))
    kill_at(env, start(how, AT_HANG_AT=hang(instant)), instant)
    return " ".join(how[:2]), ["apply", "-f", str(env.desired_dir)]


def hang(instant: Instant) -> str:
    return str(instant.call) if instant.mode == "call" else ""


@pytest.mark.parametrize("trial", range(TRIALS), ids=lambda t: f"{t:03d}-{KINDS[t % len(KINDS)]}")
def test_fr022_sigkill_at_a_seeded_instant_then_one_pass_keeps_every_invariant(
    env: Env, at: type[AtCli], trial: int
) -> None:
    kind = KINDS[trial % len(KINDS)]
    rng = random.Random(f"{fault_report.SEED}:{trial}")
    instant = draw(rng, kind)
    problems: list[str] = []
    finished = False
    try:
        what, recovery = crash(env, at, kind, rng, instant)
        result = at.run(*recovery)
        if result.exit_code != 0 or "Traceback" in result.output + result.stderr:
            problems.append(f"recovery {recovery[:2]} exited {result.exit_code}: {result.stderr[-500:]}")
        problems += violations(env.state_dir, {"host": tmux_lister(env.tmux)})
        live = {(r.layout, r.label) for r in records(env.state_dir) if r.state == "ready"}
        if kind == "apply" and not {("team", x.split(":")[1]) for x in LABELS} <= live:
            problems.append(f"team did not converge after the recovery pass: {sorted(live)}")
        finished = True
    finally:
        fault_report.tried("crash-injection", finished and not problems)
    replay = f"AGENTTOWER_FAULT_SEED={fault_report.SEED}, trial {trial}"
    assert not problems, f"{kind} killed at {instant} ({what}; {replay}):\n" + "\n".join(problems)


def test_the_invariant_checker_reports_each_kind_of_violation(env: Env, at: type[AtCli]) -> None:
    """The checker is only worth its silence if it speaks: break the rules by hand."""
    from tests.integration.test_crash import crash_at
    from tests.invariants import instance_id

    path = write(env.root / "team.yaml", *sleepy("team"))
    crash_at(env, 3, path)  # spawned and probed, never settled: records committed, panes marked
    ok(at, "apply", "-f", str(path))
    assert violations(env.state_dir, {"host": tmux_lister(env.tmux)}) == []
    crash_at(env, len(env.tmux_calls()) + 2, write(env.root / "two.yaml", *sleepy("two")))
    env.tmux("new-session", "-d", "-s", "fake", "sleep 100000")
    env.tmux("set-option", "-p", "-t", "=fake:", "@agenttower_owner", str(instance_id(env.state_dir)))
    env.tmux("set-option", "-p", "-t", "=fake:", "@agenttower_pane", "pane-nonesuch")
    audit = env.state_dir / "events.jsonl"
    first = audit.read_text().splitlines()[0]
    audit.write_text(audit.read_text() + first + "\n")
    found = "\n".join(violations(env.state_dir, {"host": tmux_lister(env.tmux)}, settle=0))
    assert "two/m1" in found and "left creating" in found
    assert "has no record ('pane-nonesuch')" in found
    assert "events written more than once" in found
    assert "outbox events missing" in found  # the crashed apply's events were never flushed
