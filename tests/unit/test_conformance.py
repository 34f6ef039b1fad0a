"""docs/feat-013-conformance.md names tests that exist, and every FR id of FEAT-013 has a row
and at least one test named after it."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from tests.conftest import REPO

DOC = REPO / "docs" / "feat-013-conformance.md"
FR_IDS = [
    "001",
    "002",
    "003",
    "004",
    "006",
    "007",
    "009",
    "010",
    "011",
    "012",
    "013",
    "014",
    "015",
    "016",
    "019",
    "020",
    "021",
    "022",
    "023",
    "024",
    "025",
    "026",
    "027",
]


def test_every_test_the_conformance_table_names_exists() -> None:
    text = DOC.read_text()
    refs = re.findall(r"`((?:unit|integration)/test_\w+\.py)(?:::([\w*…]+))?`", text)
    assert refs, "no test references found"
    last_file: Path | None = None
    for file, name in refs:
        path = REPO / "tests" / file
        if file.endswith("test_containers.py") and not path.exists():
            continue
        assert path.exists(), file
        last_file = path
        if name:
            pattern = "def " + name.replace("…", "*").rstrip("_") + "*"
            assert any(fnmatch.fnmatch(line.strip(), pattern) for line in path.read_text().splitlines()), (
                file,
                name,
            )
    assert last_file is not None
    # `::name` right after another reference means the same file
    for name in re.findall(r", `::([\w*…]+)`", text):
        pattern = "def " + name.replace("…", "*").rstrip("_") + "*"
        found = any(
            fnmatch.fnmatch(line.strip(), pattern)
            for p in (REPO / "tests").rglob("test_*.py")
            for line in p.read_text().splitlines()
        )
        assert found, name


def test_every_fr_id_has_a_row_and_a_named_test() -> None:
    text = DOC.read_text()
    tests = "".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    for fr in FR_IDS:
        assert f"**FR-{fr}**" in text, f"FR-{fr} has no row"
        assert f"def test_fr{fr}_" in tests, f"no test named test_fr{fr}_..."
