"""Which observed pane backs a record: only on what a copy of its options cannot have."""

from __future__ import annotations

from dataclasses import replace

from agenttower.model.resolved import DesiredPane, Launch
from agenttower.reconcile.identity import claims, match
from tests.unit.world import OWNER, observed, pane_record

PANE = DesiredPane("m1", "master", "orchestrator", Launch("shell"), "h")


def test_fr014_an_attached_record_is_backed_only_by_the_pane_id_it_recorded() -> None:
    record = pane_record("lay_1", PANE, 0, tmux_pane_id="%3")
    real = observed(record, "team")
    copy = replace(real, pane_id="%9", session="other")
    found = match(record, "team", claims([copy, real], OWNER))
    assert found.pane == real and not found.ambiguous
    assert match(record, "team", claims([copy], OWNER)).pane is None  # the copy alone: vanished


def test_fr014_an_unattached_record_needs_its_pending_token_in_its_session() -> None:
    record = pane_record("lay_1", PANE, 0, state="creating", marker_token="t0k")
    spawned = replace(observed(record, "team"), pending="t0k")
    no_token = replace(spawned, pane_id="%8", pending="")
    elsewhere = replace(spawned, pane_id="%7", session="intruder")
    assert match(record, "team", claims([no_token, elsewhere], OWNER)).pane is None
    assert match(record, "team", claims([no_token, spawned, elsewhere], OWNER)).pane == spawned


def test_fr014_two_panes_with_the_token_are_ambiguous_and_another_owners_never_count() -> None:
    record = pane_record("lay_1", PANE, 0, state="creating", marker_token="t0k")
    spawned = replace(observed(record, "team"), pending="t0k")
    copy = replace(spawned, pane_id="%5")
    found = match(record, "team", claims([spawned, copy], OWNER))
    assert found.pane is None and set(found.ambiguous) == {spawned, copy}
    assert "ambiguous" in found.describe("team/m1")
    assert match(record, "team", claims([spawned], "someone-else")).pane is None
