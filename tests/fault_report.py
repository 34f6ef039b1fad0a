"""Counts of the fault suite (tests/integration/test_fault_*.py): what each class tried
and what survived, shown at the end of every pytest run that ran some of it (see
`pytest_terminal_summary` in tests/conftest.py) and written to
benchmarks/results/fault-suite.json.

The seed of the crash-injection instants is AGENTTOWER_FAULT_SEED when set (to replay a
run); under CI=true it is fixed, like hypothesis's examples there (a new failing instant
is a finding for a developer's machine, not a coin flip on a submission); else it is
drawn once per run. It is printed with the counts. AGENTTOWER_SOAK=1 is the
long mode (10x the trials).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

SOAK = os.environ.get("AGENTTOWER_SOAK") == "1"
CI_SEED = 20261201
SEED = int(
    os.environ.get("AGENTTOWER_FAULT_SEED")
    or (CI_SEED if os.environ.get("CI") else random.SystemRandom().randrange(1, 2**31))
)
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "fault-suite.json"

_counts: dict[str, dict[str, int]] = {}


def tried(cls: str, survived: bool, n: int = 1) -> None:
    """Count `n` attempts of class `cls`; call it before asserting, so a failure counts."""
    entry = _counts.setdefault(cls, {"tried": 0, "survived": 0})
    entry["tried"] += n
    entry["survived"] += n if survived else 0


def lines() -> list[str]:
    mode = "soak" if SOAK else "ci"
    return [
        f"fault-suite: {cls} tried={c['tried']} survived={c['survived']} (mode={mode} seed={SEED})"
        for cls, c in sorted(_counts.items())
    ]


def write() -> Path | None:
    if not _counts:
        return None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    body = {"mode": "soak" if SOAK else "ci", "seed": SEED, "classes": _counts}
    RESULTS.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    return RESULTS
