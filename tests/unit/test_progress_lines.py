"""The summary line of `apply --wait` / `delete --wait` progress."""

from __future__ import annotations

from agenttower.cli.progress import Row, summary


def test_the_summary_counts_what_is_done_and_each_other_state() -> None:
    rows = [Row("t/m1", "ready", ""), Row("t/s1", "creating", ""), Row("t/s2", "degraded", "(probe)")]
    assert summary("apply", rows) == "apply: 1/3 panes ready, 1 creating, 1 degraded"
    assert summary("delete", [Row("t/m1", "removed", ""), Row("t/s1", "ready", "")]) == (
        "delete: 1/2 panes removed, 1 ready"
    )
    assert summary("apply", []) == "apply: 0/0 panes ready"
