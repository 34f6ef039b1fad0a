"""The target-host selection: which layouts of a shared desired dir a reconciler takes on
(reconcile/selection.py), and the planner's rule for the rest (nothing is planned for
another host's layout; a record of one is neither pruned, marked nor restarted)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenttower.model.desired import Desired, resolve
from agenttower.model.errors import AgentTowerError
from agenttower.model.lifecycle import State
from agenttower.model.manifests import parse_text
from agenttower.model.resolved import DesiredLayout, spec_hash
from agenttower.reconcile.actions import Kind, NoteKind
from agenttower.reconcile.plan import Snapshot, plan
from agenttower.reconcile.selection import select
from agenttower.runtime.observe import Listing, ListingStatus
from agenttower.settings import target_host
from agenttower.store.records import LayoutRecord, PaneRecord
from tests.manifests import SLEEP, layout, profile

from .world import NOW, OWNER, layout_record, pane_record


def _desired(*docs: dict[str, object]) -> Desired:
    text = "\n---\n".join(json.dumps(d) for d in [*docs, profile("sleepy", SLEEP)])
    return resolve(parse_text(text, "fleet.yaml"))


def _hosted(name: str, host: str | None, **target: object) -> dict[str, object]:
    where = {"host": host, **target} if host else target
    return layout(
        name,
        None,
        panes=[{"role": "m", "capability": "w", "labelPattern": "m1", "launch": "sleepy"}],
        target=where,
    )


FLEET = (
    _hosted("mine", "a", user="dev", socket="agents"),
    _hosted("boxed", "a", container="bench", user="1000"),
    _hosted("theirs", "b"),
    _hosted("anywhere", None),
)


def test_without_a_selection_every_layout_is_taken_as_written() -> None:
    desired = _desired(*FLEET)
    assert select(desired, None) is desired


def test_the_host_named_runs_its_layouts_here_and_leaves_the_others_outside() -> None:
    chosen = select(_desired(*FLEET), "a")
    assert sorted(chosen.layouts) == ["anywhere", "boxed", "mine"] and chosen.outside == {"theirs"}
    mine, boxed = chosen.layouts["mine"], chosen.layouts["boxed"]
    assert mine.target.key == "host:agents" and mine.target.user is None  # no ssh hop, no login
    assert boxed.target.key == "container:bench" and boxed.target.user == "1000"  # who tmux runs as there
    # the same hashes as the layout written without a host: nothing restarts for the rewrite
    assert [p.spec_hash for p in mine.panes] == [spec_hash(p.launch, mine.target) for p in mine.panes]
    unhosted = _desired(_hosted("mine", None, socket="agents")).layouts["mine"]
    assert [p.spec_hash for p in mine.panes] == [p.spec_hash for p in unhosted.panes]
    assert chosen.layouts["anywhere"].target.key == "host"


@given(host=st.sampled_from(["a", "b", "c"]))
def test_selecting_twice_is_selecting_once(host: str) -> None:
    once = select(_desired(*FLEET), host)
    twice = select(once, host)
    assert (sorted(twice.layouts), twice.outside) == (sorted(once.layouts), once.outside)
    assert {n: x.target for n, x in twice.layouts.items()} == {n: x.target for n, x in once.layouts.items()}


def test_a_selector_is_checked_as_a_host_is() -> None:
    assert target_host("build-box") == "build-box" and target_host(None) is None
    with pytest.raises(AgentTowerError) as info:
        target_host("-oProxyCommand=x", "--target-host")
    assert info.value.code == "validation_failed" and info.value.details["field"] == "--target-host"


def _record_of(desired: Desired, name: str) -> tuple[DesiredLayout, LayoutRecord, PaneRecord]:
    layout = select(desired, "a").layouts[name]
    rec = layout_record(layout)
    return layout, rec, pane_record(rec.id, layout.panes[0], 0, tmux_pane_id="%9")


def test_a_layout_that_moved_to_another_host_is_left_alone_not_pruned_marked_or_restarted() -> None:
    before = _desired(*FLEET)
    _, rec, pane = _record_of(before, "mine")
    moved = _desired(_hosted("mine", "b", user="dev", socket="agents"), *FLEET[1:])
    chosen = select(moved, "a")
    assert "mine" in chosen.outside
    # its pane is gone from tmux: with the layout selected that is failed + a restart
    empty = {rec.target_key: Listing(rec.target_key, ListingStatus.OK, ())}
    planned = plan(chosen.layouts, Snapshot((rec,), (pane,)), empty, OWNER, NOW, outside=chosen.outside)
    assert [a for a in planned.actions if a.resource.layout == "mine"] == []
    notes = [n for n in planned.notes if n.layout == "mine"]
    assert [n.kind for n in notes] == [NoteKind.OUTSIDE] and "left as they are" in notes[0].message
    # the same pass without the rule: the vanished pane is failed, the layout pruned
    plain = plan(chosen.layouts, Snapshot((rec,), (pane,)), empty, OWNER, NOW)
    assert {a.kind for a in plain.actions if a.resource.layout == "mine"} >= {Kind.REMOVE_PANE}


def test_a_layout_outside_is_never_created_and_one_removed_from_the_dir_is_pruned() -> None:
    chosen = select(_desired(*FLEET), "a")
    observed = {
        key: Listing(key, ListingStatus.EMPTY, ()) for key in ("host", "host:agents", "container:bench")
    }
    planned = plan(chosen.layouts, Snapshot(), observed, OWNER, NOW, outside=chosen.outside)
    created = sorted(a.resource.layout for a in planned.actions if a.kind is Kind.CREATE_LAYOUT)
    assert created == ["anywhere", "boxed", "mine"]
    # "theirs" never ran here: the normal case of a shared dir, no note in every pass's log
    assert [n for n in planned.notes if n.kind is NoteKind.OUTSIDE] == []
    _, rec, pane = _record_of(_desired(*FLEET), "mine")
    gone = select(_desired(*FLEET[1:]), "a")  # its manifest left the shared dir: no host runs it
    listing = {rec.target_key: Listing(rec.target_key, ListingStatus.OK, ())}
    pruned = plan(gone.layouts, Snapshot((rec,), (pane,)), listing, OWNER, NOW, outside=gone.outside)
    assert any(a.kind is Kind.REMOVE_PANE and a.resource.layout == "mine" for a in pruned.actions)
    assert rec.state == State.READY
