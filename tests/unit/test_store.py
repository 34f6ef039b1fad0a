"""The store: state machine at the lowest level, sequences, and the exactly-once audit file."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agenttower.events import audit
from agenttower.model.errors import AgentTowerError
from agenttower.model.lifecycle import ALLOWED, Actor, State, layout_state
from agenttower.paths import Paths
from agenttower.reconcile.engine import Session
from agenttower.settings import Settings
from agenttower.store.repo import NewPane, Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "db.sqlite3")


def new_pane(store: Store, label: str = "m1") -> tuple[str, str]:
    with store.write(NOW, Actor.OPERATOR) as tx:
        layout_id = tx.insert_layout("team", "host", "team", {}, None)
        pane = tx.insert_pane(
            layout_id,
            NewPane(label, "master", "orchestrator", 0, "h", {"env": {"API_KEY": "s3cret", "A": "b"}}),
        )
        tx.emit("managed_pane_created", layout_id, pane.id, {"launch": {"env": {"API_KEY": "s3cret"}}})
    return layout_id, pane.id


def force_state(store: Store, pane_id: str, state: str) -> None:
    store.conn.execute("UPDATE panes SET state=? WHERE id=?", (state, pane_id))


@pytest.mark.parametrize("current, new", list(itertools.product(list(State), list(State))))
def test_fr006_only_the_allowed_transitions(store: Store, current: State, new: State) -> None:
    _, pane_id = new_pane(store)
    force_state(store, pane_id, current)
    pane = store.pane(pane_id)
    assert pane is not None
    if new in ALLOWED[current]:
        with store.write(NOW, Actor.CONTROLLER) as tx:
            tx.transition(pane, new)
        assert store.pane(pane_id).state == new  # type: ignore[union-attr]
    else:
        with pytest.raises(AgentTowerError) as info, store.write(NOW, Actor.CONTROLLER) as tx:
            tx.transition(pane, new, requested_action="test")
        assert info.value.code == "managed_pane_illegal_transition"
        assert info.value.details == {
            "pane_id": pane_id,
            "current_state": current,
            "requested_action": "test",
        }
        assert store.pane(pane_id).state == current  # type: ignore[union-attr]


def test_fr006_transition_table_is_feat013s() -> None:
    assert {k: set(v) for k, v in ALLOWED.items()} == {
        State.CREATING: {State.READY, State.DEGRADED, State.FAILED},
        State.READY: {State.DEGRADED, State.FAILED, State.REMOVED},
        State.DEGRADED: {State.FAILED, State.REMOVED},
        State.FAILED: {State.REMOVED},
        State.REMOVED: set(),
    }


@pytest.mark.parametrize(
    "states, expected",
    [
        (["creating", "failed", "ready"], "creating"),
        (["failed", "degraded", "ready"], "failed"),
        (["degraded", "ready", "removed"], "degraded"),
        (["removed", "removed"], "removed"),
        (["ready", "removed"], "ready"),
        (["ready", "ready"], "ready"),
    ],
)
def test_fr013_layout_state_is_derived_from_panes(states: list[str], expected: str) -> None:
    assert layout_state(states) == expected


def test_fr003_two_live_panes_cannot_share_a_label(store: Store) -> None:
    layout_id, _ = new_pane(store)
    with pytest.raises(Exception, match="UNIQUE"), store.write(NOW, Actor.OPERATOR) as tx:
        tx.insert_pane(layout_id, NewPane("m1", "master", "o", 0, "h", {}))
    pane = store.pane(store.panes()[0].id)
    with store.write(NOW, Actor.OPERATOR) as tx:
        tx.transition(pane, State.FAILED)  # type: ignore[arg-type]
        tx.insert_pane(layout_id, NewPane("m1", "master", "o", 0, "h", {}))  # a failed pane frees its label


def test_fr015_sequences_are_fifo_per_layout_and_pane(store: Store) -> None:
    layout_id, pane_id = new_pane(store)
    pane = store.pane(pane_id)
    with store.write(NOW, Actor.CONTROLLER) as tx:
        tx.transition(pane, State.READY)  # type: ignore[arg-type]
        tx.refresh_layout_state(layout_id)
    events = store.events(layout_id=layout_id)
    assert [e["layout_seq"] for e in events] == list(range(1, len(events) + 1))
    pane_events = [e for e in events if e["pane_id"] == pane_id]
    assert [e["pane_seq"] for e in pane_events] == list(range(1, len(pane_events) + 1))
    assert {e["actor"] for e in events} == {"operator", "controller"}
    assert all(e["timestamp"].endswith("Z") for e in events)


def test_fr021_env_secrets_redacted_in_events_and_records(store: Store) -> None:
    _, pane_id = new_pane(store)
    body = json.dumps(store.events())
    assert "s3cret" not in body and "***" in body
    # records keep what the caller passed; the reconciler redacts before storing (see spawn)
    assert store.pane(pane_id) is not None


def session(tmp_path: Path, store: Store) -> Session:
    paths = Paths(tmp_path / "state", tmp_path / "desired", tmp_path / "config")
    return Session(paths, Settings(), store, Actor.OPERATOR)


def audit_ids(path: Path) -> list[str]:
    return [json.loads(line)["event_id"] for line in path.read_text().splitlines()]


def test_audit_exactly_once_across_a_crash_between_append_and_mark(tmp_path: Path, store: Store) -> None:
    new_pane(store)
    s = session(tmp_path, store)
    rows = store.unwritten_events()
    audit.append(s.paths.audit_file, [body for _, _, body in rows])  # crash: the outbox was not marked
    new_pane_in_other_layout(store)
    s.flush_audit()
    ids = audit_ids(s.paths.audit_file)
    assert len(ids) == len(set(ids)) == len(store.events())
    assert store.unwritten_events() == []


def new_pane_in_other_layout(store: Store) -> None:
    with store.write(NOW, Actor.OPERATOR) as tx:
        layout_id = tx.insert_layout("other", "host", "other", {}, None)
        tx.emit("managed_layout_created", layout_id)


def test_audit_torn_last_line_is_repaired(tmp_path: Path, store: Store) -> None:
    new_pane(store)
    s = session(tmp_path, store)
    s.flush_audit()
    whole = s.paths.audit_file.read_text()
    new_pane_in_other_layout(store)
    rows = store.unwritten_events()
    with s.paths.audit_file.open("a") as fh:
        fh.write(rows[0][2][:25])  # a crash mid-write
    s.flush_audit()
    text = s.paths.audit_file.read_text()
    assert text.startswith(whole) and text.endswith("\n")
    ids = audit_ids(s.paths.audit_file)
    assert len(ids) == len(set(ids)) == len(store.events())


def test_audit_write_failure_keeps_events_in_the_outbox(tmp_path: Path, store: Store) -> None:
    new_pane(store)
    s = session(tmp_path, store)
    s.paths.state_dir.mkdir(parents=True)
    s.paths.audit_file.symlink_to("/dev/full")
    with pytest.raises(OSError):
        s.flush_audit()
    assert len(store.unwritten_events()) == len(store.events())
    s.paths.audit_file.unlink()
    s.flush_audit()
    assert len(audit_ids(s.paths.audit_file)) == len(store.events())


def test_instance_id_is_stable_per_state_dir(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "db").instance_id
    assert Store.open(tmp_path / "db").instance_id == first
    assert Store.open(tmp_path / "other").instance_id != first


def test_fr015_an_audit_file_missing_a_middle_event_is_rewritten_in_order(
    tmp_path: Path, store: Store
) -> None:
    new_pane(store)
    s = session(tmp_path, store)
    s.flush_audit()
    lines = s.paths.audit_file.read_text().splitlines()
    s.paths.audit_file.write_text('{"note": "not an event"}\n' + "\n".join([lines[0], *lines[2:]]) + "\n")
    s.flush_audit()
    text = s.paths.audit_file.read_text().splitlines()
    assert text[0] == '{"note": "not an event"}'  # a line that is no outbox event is kept
    assert [json.loads(line)["event_id"] for line in text[1:]] == [e["event_id"] for e in store.events()]


def test_a_pass_read_is_reused_only_while_the_database_is_unchanged(store: Store, tmp_path: Path) -> None:
    """The per-pass reads (live layouts, their panes) are kept while nothing changed; any
    commit, by this connection or another process's, and any row change is seen at once."""
    layout_id, pane_id = new_pane(store)
    first = store.live_layout_panes()
    assert store.live_layout_panes()[0] is first[0]  # unchanged: the very same records
    assert store.layouts()[0].id == layout_id

    other = Store.open(tmp_path / "db.sqlite3")  # another connection, as a CLI would hold
    with other.write(NOW, "operator") as tx:
        tx.transition(other.pane(pane_id), State.READY)  # type: ignore[arg-type]
    assert store.live_layout_panes()[0].state == State.READY

    force_state(store, pane_id, "degraded")  # this connection, outside any Writer
    assert store.live_layout_panes()[0].state == "degraded"

    with pytest.raises(RuntimeError), store.write(NOW, "controller") as tx:
        tx.transition(store.pane(pane_id), State.FAILED)  # type: ignore[arg-type]
        assert store.live_layout_panes()[0].state == State.FAILED  # seen inside, never kept
        raise RuntimeError("roll back")
    assert store.live_layout_panes()[0].state == "degraded"

    with other.write(NOW, "operator") as tx:
        tx.insert_layout("second", "host", "second", {}, None)
    assert {rec.name for rec in store.layouts()} == {"team", "second"}
    other.close()
