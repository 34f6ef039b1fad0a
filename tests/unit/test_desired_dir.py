"""The desired dir on disk: where applied files land, and cutting one document out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agenttower.reconcile.desired_dir import destination, without_documents


def test_destination_is_basename_unless_already_inside(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    (desired / "sub").mkdir(parents=True)
    assert destination(desired, tmp_path / "x" / "team.yaml") == desired / "team.yaml"
    assert destination(desired, desired / "sub" / "a.yaml") == desired / "sub" / "a.yaml"
    assert (
        destination(desired, tmp_path / "dir" / "n" / "b.yaml", tmp_path / "dir") == desired / "n" / "b.yaml"
    )


def test_cutting_a_document_keeps_the_others_byte_for_byte() -> None:
    text = "# head comment\na: 1\n---\n# two\nb: 2   # trailing\n--- # three\nc: 3\n"
    assert without_documents(text, {0}, "f") == "# two\nb: 2   # trailing\n--- # three\nc: 3\n"
    assert without_documents(text, {1}, "f") == "# head comment\na: 1\n--- # three\nc: 3\n"
    assert without_documents(text, {2}, "f") == "# head comment\na: 1\n---\n# two\nb: 2   # trailing\n"
    assert without_documents("---\na: 1\n---\nb: 2\n", {0}, "f") == "---\nb: 2\n"


docs = st.lists(
    st.sampled_from(["a: 1\n", "# c\nb: [1, 2]\n", "c:\n  d: x\n", "e: 'q'  # t\n"]), min_size=1, max_size=6
)


@given(docs, st.data())
def test_property_cut_then_parse_keeps_every_other_document(chunks: list[str], data: st.DataObject) -> None:
    text = "---\n".join(chunks)
    cut = data.draw(st.sets(st.integers(0, len(chunks) - 1)))
    result = without_documents(text, cut, "f")
    kept = [c for i, c in enumerate(chunks) if i not in cut]
    assert result.split("---\n") == kept or (not kept and result == "")
