"""Break the build on purpose, one rule at a time, and check the FEAT-013 tests notice.

Not collected by pytest (no `test_` prefix): run `python tests/mutants.py` by hand. Each
mutant edits one line of the package, runs the `test_fr0*` tests, and restores the file.
A mutant that no test kills is printed as SURVIVED.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "controller" / "agenttower"

MUTANTS: list[tuple[str, str, str, str]] = [
    ("FR-001 labels", "model/builtins.py", '"s{ordinal}"', '"w{ordinal}"'),
    ("FR-002 profile lookup", "model/desired.py", "if name not in catalog.profiles:", "if False:"),
    ("FR-003 label conflict", "model/desired.py", "if label in seen:", "if False:"),
    (
        "FR-006 transitions",
        "model/lifecycle.py",
        "State.DEGRADED: frozenset({State.FAILED, State.REMOVED}),",
        "State.DEGRADED: frozenset({State.FAILED, State.REMOVED, State.READY}),",
    ),
    (
        "FR-013 aggregate",
        "model/lifecycle.py",
        "for state in (State.CREATING, State.FAILED, State.DEGRADED):",
        "for state in (State.CREATING, State.DEGRADED, State.FAILED):",
    ),
    ("FR-009 remove keeps slot", "reconcile/plan.py", "cur.removed_by != Actor.OPERATOR", "True"),
    (
        "FR-010 recreate source",
        "reconcile/lifecycle.py",
        "if source.state not in (State.FAILED, State.REMOVED):",
        "if False:",
    ),
    ("FR-011 chain limit", "reconcile/lifecycle.py", "if depth > limit:", "if False:"),
    (
        "FR-012 idempotent replay",
        "reconcile/lifecycle.py",
        'return {**result, "replay": True}',
        'return {**result, "replay": False}',
    ),
    ("FR-016 session conflict", "reconcile/plan.py", "if layout.session in listing.sessions():", "if False:"),
    (
        "FR-021 redaction",
        "model/redaction.py",
        '_SECRET_KEY = re.compile(r"TOKEN|SECRET|KEY|PASSWORD"',
        '_SECRET_KEY = re.compile(r"NOTHING"',
    ),
    (
        "FR-022 TTL sweep",
        "reconcile/plan.py",
        "expired = self.now - parse_time(pane.created_at) >= self.settings.panes.creating_ttl",
        "expired = False",
    ),
    ("FR-023 adopted protected", "reconcile/lifecycle.py", "    _protected(session, name)\n", "\n"),
    ("FR-025 capacity", "reconcile/plan.py", "if used >= self.settings.panes.capacity:", "if False:"),
    (
        "FR-027 promote",
        "reconcile/lifecycle.py",
        "raise AgentTowerError(ErrorCode.NOT_IMPLEMENTED",
        "return {}\n    raise AgentTowerError(ErrorCode.NOT_IMPLEMENTED",
    ),
]


def main() -> int:
    survived = 0
    for name, rel, old, new in MUTANTS:
        path = PKG / rel
        original = path.read_text()
        if old not in original:
            print(f"STALE     {name}: pattern not found in {rel}")
            survived += 1
            continue
        path.write_text(original.replace(old, new, 1))
        try:
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:warnings", "-k", "fr0", "tests"],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            path.write_text(original)
        killed = result.returncode != 0
        survived += not killed
        print(f"{'killed  ' if killed else 'SURVIVED'}  {name}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
