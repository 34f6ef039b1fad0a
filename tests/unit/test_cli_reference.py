"""docs/cli-reference.md is generated from the click commands: the committed file must be
what the generator writes now (a changed option or help text without it regenerated fails).

The generator runs in a fresh interpreter: click caches each command's help option on
first use, so commands other tests already invoked would render differently here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_cli_reference_is_what_the_generator_writes() -> None:
    check = subprocess.run(
        [sys.executable, str(DOCS / "gen_cli_reference.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    text = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert "## get" in text and "## controller run" in text and "Examples:" in text


def test_the_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "gen_cli_reference.py"
    stale.write_text((DOCS / "gen_cli_reference.py").read_text(encoding="utf-8"))
    (tmp_path / "cli-reference.md").write_text("# CLI reference\n\nold\n")
    check = subprocess.run([sys.executable, str(stale), "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stderr
