"""The docs stay true where a test can tell: every error code of the closed set has a
row in the troubleshooting page saying what to do; every action kind and note kind is
named in the controller page, the kinds in the order a target runs them."""

from __future__ import annotations

import re
import subprocess
import sys

from agenttower.model.errors import ErrorCode
from agenttower.reconcile.actions import Kind, NoteKind
from tests.conftest import REPO


def test_troubleshooting_names_every_error_code_with_what_to_do() -> None:
    text = (REPO / "docs" / "troubleshooting.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_]+)` \|.*\|$", text, re.M)}
    assert set(rows) == {code.value for code in ErrorCode}
    for code, row in rows.items():
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 3 and all(cells), code  # code, what it means, what to do


def test_the_manifest_reference_is_generated_from_the_models_as_they_are() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "gen_manifest_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_controller_page_lists_every_action_kind_in_run_order_and_every_note_kind() -> None:
    text = (REPO / "docs" / "controller.md").read_text()
    section = text[text.index("### Action kinds") : text.index("### Settings")]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    assert rows == sorted((k.value for k in Kind), key=lambda v: (Kind(v).phase, list(Kind).index(Kind(v))))
    notes = section[section.index("*note*") :]
    assert all(f"`{kind.value}`" in notes for kind in NoteKind)
