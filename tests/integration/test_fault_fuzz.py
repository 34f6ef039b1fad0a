"""Fault suite, fuzz through the CLI: mutated manifests through `agenttower apply -f`.

The mutations of tests/unit/test_fuzz_manifests.py (which runs 2,000 of them through
the loader alone), plus line-level edits (a duplicated line: duplicate keys; a moved
or dropped line; a YAML 1.1 surprise as a value), run through the real CLI in-process
(CliRunner: ~150 ms per subprocess would make this minutes). A manifest the loader
rejects must fail as `error: CODE: FILE:LINE: ...` with a closed-set code (never
`internal_error`, never a traceback), with no tmux mutation and the desired dir
byte for byte as it was; one it accepts goes through `apply --dry-run`, which must not
change anything either. 200 examples per run (2,000 with AGENTTOWER_SOAK=1).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agenttower.model.desired import resolve
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.manifests import parse_bytes
from tests import fault_report
from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write
from tests.unit.test_fuzz_manifests import BASE, VALUES, mutated

pytestmark = pytest.mark.tmux

EXAMPLES = 2_000 if fault_report.SOAK else 200
ERROR = re.compile(r"^error: ([a-z_]+): (.+?):(\d+): \S")
SERVER = re.compile(r"^(-[LS] \S+ )+")  # `tmux -L socket` / `-S path`
READ_ONLY = ("list-panes", "list-sessions", "has-session", "show-options", "display-message")


@st.composite
def line_edited(draw: st.DrawFn) -> bytes:
    lines = BASE.split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(("duplicate", "drop", "move", "value")))
        if how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "drop" and len(lines) > 1:
            del lines[i]
        elif how == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(i))
        elif b": " in lines[i]:
            key, _, _ = lines[i].partition(b": ")
            lines[i] = key + b": " + draw(VALUES)
    return b"\n".join(lines)


def accepted(data: bytes, name: str) -> bool:
    try:
        resolve(parse_bytes(data, name))
    except AgentTowerError:
        return False
    return True


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check(env: Env, at: type[AtCli], data: bytes) -> str:
    """Run one manifest through `apply`; the list of what is wrong (empty: survived)."""
    path = env.root / "fuzz.yaml"
    path.write_bytes(data)
    before = snapshot(env.desired_dir)
    env.reset_calls()
    valid = accepted(data, str(path))
    result = at.run("apply", "-f", str(path), *(["--dry-run"] if valid else []))
    out = result.output + result.stderr
    assert "Traceback" not in out, out[-2000:]
    assert "internal_error" not in out, out[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if valid:
        assert result.exit_code in (0, 1), (result.exit_code, out[-2000:])
    else:
        assert result.exit_code == 1 and errors, (result.exit_code, out[-2000:])
    for line in errors:
        found = ERROR.match(line)
        assert found, line[:500]
        code, file, number = found.groups()
        assert code in set(ErrorCode) and code != ErrorCode.INTERNAL_ERROR, line[:500]
        assert valid or (file == str(path) and 1 <= int(number) <= data.count(b"\n") + 1), line[:500]
    mutations = [c for c in env.tmux_calls() if not SERVER.sub("", c).startswith(READ_ONLY)]
    assert mutations == [], mutations
    assert snapshot(env.desired_dir) == before
    return f"{'dry-run' if valid else 'rejected'} exit {result.exit_code}"


@pytest.fixture
def resident(env: Env, at: type[AtCli]) -> Env:
    """A layout already in the desired dir and in tmux: fuzzing must leave both alone."""
    path = write(
        env.root / "resident.yaml", layout("resident", launch={"master:m1": "r"}), profile("r", SLEEP)
    )
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    return env


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.one_of(mutated(), line_edited()))
def test_fr016_mutated_manifests_through_apply_fail_located_and_change_nothing(
    resident: Env, at: type[AtCli], data: bytes
) -> None:
    survived = False
    try:
        event(check(resident, at, data))
        survived = True
    finally:
        fault_report.tried("fuzz-cli", survived)
