"""docs/cli-reference.md is generated from the click commands: the committed file must be
what the generator writes now (a changed option or help text without it regenerated fails)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_cli_reference_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", DOCS / "gen_cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert "## get" in text and "## controller run" in text and "Examples:" in text
    assert (DOCS / "cli-reference.md").read_text(encoding="utf-8") == text, (
        "docs/cli-reference.md is out of date: run python docs/gen_cli_reference.py"
    )
