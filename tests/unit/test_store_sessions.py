"""The store's half of a slot's conversation: a new record gets a new UUID unless it is
given its predecessor's, and an id the agent reported is kept with its event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from agenttower.events.types import EventType
from agenttower.model.lifecycle import Actor
from agenttower.store.repo import NewPane, Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_fr013_a_new_record_gets_a_new_session_id_and_a_successor_keeps_the_one_it_is_given(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "db.sqlite3")
    with store.write(NOW, Actor.OPERATOR) as tx:
        layout_id = tx.insert_layout("team", "host", "team", {}, None)
        first = tx.insert_pane(layout_id, NewPane("m1", "master", "o", 0, "h", {}))
        other = tx.insert_pane(layout_id, NewPane("s1", "slave", "w", 1, "h", {}))
    assert first.session_id is not None and str(uuid.UUID(first.session_id)) == first.session_id
    assert other.session_id != first.session_id
    with store.write(NOW, Actor.CONTROLLER) as tx:
        store.conn.execute("UPDATE panes SET state='failed' WHERE id=?", (first.id,))
        kept = NewPane(
            "m1", "master", "o", 0, "h", {}, first.id, 1, 1, first.session_id, "agent-7", first.session_id
        )
        successor = tx.insert_pane(layout_id, kept)
        tx.record_agent_session(successor, "agent-8")
    after = store.pane(successor.id)
    assert after is not None
    assert (after.session_id, after.resumed_from, after.agent_session_id) == (
        first.session_id,
        first.session_id,
        "agent-8",
    )
    (event,) = [e for e in store.events() if e["event_type"] == EventType.PANE_AGENT_SESSION_REPORTED]
    assert event["payload"] == {"agent_session_id": "agent-8", "session_id": first.session_id}
