"""The store's one entry point: reads, and writes that each carry their event.

Callers mutate only inside `Store.write()`; every pane transition is checked against
the FEAT-013 state machine here, at the lowest level, so no caller can skip it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from agenttower.events import outbox
from agenttower.events.outbox import Subject
from agenttower.events.types import EventType
from agenttower.model.durations import rfc3339
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.lifecycle import NON_TERMINAL, Actor, Stage, State, can_transition, layout_state

from .db import connect, connect_empty, connect_readonly, immediate, schema_current
from .records import AgentRecord, LayoutRecord, PaneRecord

LIVE_STATES = tuple(str(s) for s in NON_TERMINAL)
R = TypeVar("R")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class NewPane:
    """What the caller decides for a pane record about to be created."""

    label: str
    role: str
    capability: str
    slot: int
    spec_hash: str
    launch: Mapping[str, Any]
    predecessor_id: str | None = None
    chain_depth: int = 0
    restarts_in_a_row: int = 0
    session_id: str | None = None  # None: a new slot's (or a fresh start's) new conversation id
    agent_session_id: str | None = None
    resumed_from: str | None = None


def _reuse(
    rows: Iterable[sqlite3.Row], known: dict[tuple[Any, ...], R], decode: Callable[[sqlite3.Row], R]
) -> tuple[list[R], dict[tuple[Any, ...], R]]:
    """Records of `rows`, reusing those of identical rows (records are frozen); returns
    them and the cache for the next read, which holds just these rows."""
    found: list[R] = []
    kept: dict[tuple[Any, ...], R] = {}
    for row in rows:
        values = tuple(row)
        record = known.get(values)
        if record is None:
            record = decode(row)
        kept[values] = record
        found.append(record)
    return found, kept


class Store:
    def __init__(self, conn: sqlite3.Connection, instance_id: str | None = None) -> None:
        self.conn = conn
        self.instance_id = self._instance_id() if instance_id is None else instance_id
        self._writing = False
        # the records of the last read of every pass, by their row's values: a row that did
        # not change is not decoded again (its JSON columns were most of a 1,000-pane pass)
        self._layout_rows: dict[tuple[Any, ...], LayoutRecord] = {}
        self._pane_rows: dict[tuple[Any, ...], PaneRecord] = {}
        self._reads: dict[str, tuple[tuple[int, int], list[Any]]] = {}  # see _unless_changed

    @classmethod
    def open(cls, path: Path) -> Store:
        return cls(connect(path))

    @classmethod
    def open_for_reading(cls, path: Path) -> Store:
        """Read-only, so a read never waits on a writer's lock and works on a full or
        read-only state dir; with no database yet, an empty one in memory (a read creates
        nothing). Only a database at an older schema is opened for writing, to migrate it."""
        conn = connect_readonly(path)
        if conn is None:
            return cls(connect_empty(), "")
        if not schema_current(conn):
            conn.close()
            return cls.open(path)
        row = conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
        return cls(conn, str(row[0]) if row else "")

    @classmethod
    def peek(cls, path: Path) -> Store | None:
        """Read-only and never migrated, as it is on disk (what `doctor` looks at); None:
        there is no database. Raises sqlite3.Error for one that cannot be read."""
        conn = connect_readonly(path)
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
        except sqlite3.Error:
            row = None
        return cls(conn, str(row[0]) if row else "")

    def schema_current(self) -> bool:
        return schema_current(self.conn)

    def live_layout_targets(self) -> list[tuple[str, dict[str, Any] | None]]:
        """(target key, resolved spec) of each live layout; read by columns every schema
        has, so it works on a database an older agenttower wrote."""
        rows = self.conn.execute("SELECT target_key, resolved_json FROM layouts WHERE state != 'removed'")
        return [(str(key), json.loads(spec) if spec else None) for key, spec in rows]

    def close(self) -> None:
        self.conn.close()

    def _instance_id(self) -> str:
        with immediate(self.conn):
            row = self.conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
            if row:
                return str(row[0])
            value = uuid.uuid4().hex[:12]
            self.conn.execute("INSERT INTO meta(key, value) VALUES ('instance_id', ?)", (value,))
            return value

    # ---- reads -------------------------------------------------------------------------
    def layouts(self, include_removed: bool = False) -> list[LayoutRecord]:
        sql = "SELECT * FROM layouts"
        if not include_removed:
            sql += " WHERE state != 'removed'"
        if include_removed:
            return [LayoutRecord.from_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, id")]

        def read() -> list[LayoutRecord]:
            rows = self.conn.execute(sql + " ORDER BY created_at, id")
            found, self._layout_rows = _reuse(rows, self._layout_rows, LayoutRecord.from_row)
            return found

        return self._unless_changed("layouts", read)

    def layout(self, layout_id: str) -> LayoutRecord | None:
        row = self.conn.execute("SELECT * FROM layouts WHERE id=?", (layout_id,)).fetchone()
        return LayoutRecord.from_row(row) if row else None

    def layout_by_name(self, name: str) -> LayoutRecord | None:
        """The live record of `name`, else its most recent removed one."""
        row = self.conn.execute(
            "SELECT * FROM layouts WHERE name=? ORDER BY state = 'removed', created_at DESC LIMIT 1",
            (name,),
        ).fetchone()
        return LayoutRecord.from_row(row) if row else None

    def panes(self, layout_id: str | None = None) -> list[PaneRecord]:
        sql, args = "SELECT * FROM panes", ()
        if layout_id is not None:
            sql, args = sql + " WHERE layout_id=?", (layout_id,)  # type: ignore[assignment]
        return [PaneRecord.from_row(r) for r in self.conn.execute(sql + " ORDER BY created_at, id", args)]

    def live_layout_panes(self) -> list[PaneRecord]:
        """Every pane record of the layouts that are not removed (history of removed
        layouts is not read on every pass)."""

        def read() -> list[PaneRecord]:
            rows = self.conn.execute(
                "SELECT * FROM panes WHERE layout_id IN (SELECT id FROM layouts WHERE state != 'removed')"
                " ORDER BY created_at, id"
            )
            found, self._pane_rows = _reuse(rows, self._pane_rows, PaneRecord.from_row)
            return found

        return self._unless_changed("live_layout_panes", read)

    def _unless_changed(self, name: str, read: Callable[[], list[R]]) -> list[R]:
        """`read()`, or what it returned last time when the database has not changed since:
        no other connection committed (`PRAGMA data_version`) and this one changed no row
        (`total_changes`, which also counts changes later rolled back). A read inside a
        transaction is never kept: the transaction may still roll back what it saw."""
        if self.conn.in_transaction:
            self._reads.pop(name, None)
            return read()
        version = (int(self.conn.execute("PRAGMA data_version").fetchone()[0]), self.conn.total_changes)
        kept = self._reads.get(name)
        if kept is not None and kept[0] == version:
            return list(kept[1])
        found = read()
        self._reads[name] = (version, found)
        return list(found)

    def pane(self, pane_id: str) -> PaneRecord | None:
        row = self.conn.execute("SELECT * FROM panes WHERE id=?", (pane_id,)).fetchone()
        return PaneRecord.from_row(row) if row else None

    def agents(self) -> list[AgentRecord]:
        return [
            AgentRecord.from_row(r) for r in self.conn.execute("SELECT * FROM agents ORDER BY created_at")
        ]

    def count_live_layouts(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM layouts WHERE state != 'removed'").fetchone()[0])

    def unwritten_events(self, limit: int = 10_000) -> list[tuple[int, str, str]]:
        rows = self.conn.execute(
            "SELECT seq, event_id, body FROM outbox WHERE written=0 ORDER BY seq LIMIT ?", (limit,)
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def last_event_seq(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])

    def events(
        self, layout_id: str | None = None, pane_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Events oldest first (the outbox keeps them all); `limit` keeps the newest."""
        rows = [json.loads(r[0]) for r in self.conn.execute("SELECT body FROM outbox ORDER BY seq")]
        if layout_id is not None:
            rows = [e for e in rows if e.get("layout_id") == layout_id]
        if pane_id is not None:
            rows = [e for e in rows if e.get("pane_id") == pane_id]
        return rows[-limit:] if limit else rows

    def delivered_inputs(self) -> frozenset[tuple[str, str]]:
        """(layout id, label) of every slot whose initialInput was typed already."""
        try:
            rows = self.conn.execute("SELECT layout_id, label FROM initial_inputs").fetchall()
        except sqlite3.OperationalError:  # a read-only look at a database not migrated yet
            return frozenset()
        return frozenset((r[0], r[1]) for r in rows)

    def events_after(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """Events written after outbox row `seq`, oldest first, and the last row's seq."""
        rows = self.conn.execute("SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return (rows[-1][0] if rows else seq), [json.loads(r[1]) for r in rows]

    def idempotent_result(self, key: str) -> tuple[str, str, dict[str, Any]] | None:
        """(op, request hash, result) stored under an idempotency key."""
        row = self.conn.execute(
            "SELECT op, request_hash, result_json FROM idempotency WHERE key=?", (key,)
        ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def adopted(self, tmux_pane_id: str | None = None) -> list[AgentRecord]:
        rows = self.conn.execute("SELECT * FROM agents WHERE origin='adopted' ORDER BY created_at")
        agents = [AgentRecord.from_row(r) for r in rows]
        return [a for a in agents if tmux_pane_id is None or a.tmux_pane_id == tmux_pane_id]

    def all_events(self) -> list[tuple[str, str]]:
        """(event_id, body) of every event, in outbox order: what the audit file must hold."""
        return [
            (str(r[0]), str(r[1]))
            for r in self.conn.execute("SELECT event_id, body FROM outbox ORDER BY seq")
        ]

    def audit_mark(self) -> tuple[int, int] | None:
        """(inode, size) of the audit file as the last write left it."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='audit_mark'").fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return (int(value[0]), int(value[1])) if value else None

    def mark_written_through(self, seq: int, mark: tuple[int, int] | None) -> None:
        """Rows up to `seq` are in the audit file, which now stands at `mark`."""
        with immediate(self.conn):
            self.conn.execute("UPDATE outbox SET written=1 WHERE written=0 AND seq<=?", (seq,))
            self.conn.execute(
                "INSERT INTO meta(key, value) VALUES ('audit_mark', ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (json.dumps(list(mark) if mark else None),),
            )

    # ---- writes ------------------------------------------------------------------------
    @contextmanager
    def write(self, now: datetime, actor: Actor) -> Iterator[Writer]:
        with immediate(self.conn):
            yield Writer(self, rfc3339(now), actor)


class Writer:
    """Mutations inside one transaction; each method writes its event to the outbox."""

    def __init__(self, store: Store, now: str, actor: Actor) -> None:
        self.store = store
        self.conn = store.conn
        self.now = now
        self.actor = actor

    def emit(
        self,
        event_type: EventType,
        layout_id: str | None,
        pane_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        layout = self.conn.execute(
            "UPDATE layouts SET event_seq = event_seq + 1 WHERE id=? RETURNING name, event_seq",
            (layout_id,),
        ).fetchone()
        pane = self.conn.execute(
            "UPDATE panes SET event_seq = event_seq + 1 WHERE id=? RETURNING label, event_seq",
            (pane_id,),
        ).fetchone()
        subject = Subject(
            layout_id,
            layout["name"] if layout else None,
            layout["event_seq"] if layout else None,
            pane_id,
            pane["label"] if pane else None,
            pane["event_seq"] if pane else None,
        )
        event_id, text = outbox.body(event_type, self.now, self.actor, subject, payload)
        self.conn.execute("INSERT INTO outbox(event_id, body) VALUES (?, ?)", (event_id, text))

    def insert_layout(
        self,
        name: str,
        target_key: str,
        session: str,
        spec: Mapping[str, Any],
        source: str | None,
        resolved: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> str:
        layout_id = new_id("lay")
        try:
            self.conn.execute(
                "INSERT INTO layouts(id, name, target_key, session, state, spec_json, source_file,"
                " created_at, updated_at, resolved_json, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    layout_id,
                    name,
                    target_key,
                    session,
                    State.CREATING,
                    json.dumps(spec),
                    source,
                    self.now,
                    self.now,
                    json.dumps(resolved) if resolved is not None else None,
                    fingerprint,
                ),
            )
        except sqlite3.IntegrityError:
            raise AgentTowerError(
                ErrorCode.VALIDATION_FAILED,
                f"layout {name!r} already has a live record",
                {"field": "metadata.name", "reason": "layout exists"},
            ) from None
        return layout_id

    def update_layout_spec(
        self,
        layout_id: str,
        spec: Mapping[str, Any],
        source: str | None,
        resolved: Mapping[str, Any],
        fingerprint: str,
    ) -> None:
        """A new desired spec: `generation` moves on; `observedGeneration` catches up later."""
        self.conn.execute(
            "UPDATE layouts SET spec_json=?, source_file=?, resolved_json=?, fingerprint=?,"
            " generation=generation + 1, updated_at=? WHERE id=?",
            (json.dumps(spec), source, json.dumps(resolved), fingerprint, self.now, layout_id),
        )

    def set_status(self, layout_id: str, conditions: list[dict[str, Any]], observed_generation: int) -> None:
        self.conn.execute(
            "UPDATE layouts SET conditions_json=?, observed_generation=? WHERE id=?",
            (json.dumps(conditions), observed_generation, layout_id),
        )

    def insert_pane(self, layout_id: str, pane: NewPane) -> PaneRecord:
        pane_id = new_id("pane")
        token = uuid.uuid4().hex[:12]
        self.conn.execute(
            "INSERT INTO panes(id, layout_id, label, role, capability, slot, state, spec_hash,"
            " launch_json, marker_token, owner, predecessor_id, chain_depth, restarts_in_a_row,"
            " session_id, agent_session_id, resumed_from,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                pane_id,
                layout_id,
                pane.label,
                pane.role,
                pane.capability,
                pane.slot,
                State.CREATING,
                pane.spec_hash,
                json.dumps(dict(pane.launch)),
                token,
                self.store.instance_id,
                pane.predecessor_id,
                pane.chain_depth,
                pane.restarts_in_a_row,
                pane.session_id or str(uuid.uuid4()),
                pane.agent_session_id,
                pane.resumed_from,
                self.now,
                self.now,
            ),
        )
        record = self.store.pane(pane_id)
        assert record is not None
        return record

    def transition(
        self,
        pane: PaneRecord,
        new_state: State,
        *,
        stage: Stage | None = None,
        reason: str | None = None,
        exit_code: int | None = None,
        removed_by: Actor | None = None,
        requested_action: str = "transition",
    ) -> None:
        current = self.store.pane(pane.id)
        assert current is not None
        if not can_transition(current.state, new_state):
            raise AgentTowerError(
                ErrorCode.PANE_ILLEGAL_TRANSITION,
                f"pane {pane.id} cannot go from {current.state} to {new_state}",
                {"pane_id": pane.id, "current_state": current.state, "requested_action": requested_action},
            )
        ended = (
            self.now if new_state in (State.FAILED, State.REMOVED) or stage == Stage.LAUNCH_COMMAND else None
        )
        self.conn.execute(
            "UPDATE panes SET state=?, failed_stage=coalesce(?, failed_stage), reason=coalesce(?, reason),"
            " exit_code=coalesce(?, exit_code), removed_by=coalesce(?, removed_by),"
            " ready_at=CASE WHEN ?='ready' THEN ? ELSE ready_at END,"
            " ended_at=coalesce(ended_at, ?), updated_at=? WHERE id=?",
            (new_state, stage, reason, exit_code, removed_by, new_state, self.now, ended, self.now, pane.id),
        )
        payload: dict[str, Any] = {"from": str(current.state), "to": str(new_state)}
        if stage:
            payload["failed_stage"] = str(stage)
        if reason:
            payload["reason"] = reason
        self.emit(EventType.PANE_STATE_CHANGED, pane.layout_id, pane.id, payload)

    def restage(self, pane: PaneRecord, stage: Stage, reason: str, exit_code: int | None) -> None:
        """Same state, new failed stage: a degraded pane whose process has now exited."""
        self.conn.execute(
            "UPDATE panes SET failed_stage=?, reason=?, exit_code=?, ended_at=?, updated_at=? WHERE id=?",
            (stage, reason, exit_code, self.now, self.now, pane.id),
        )
        self.emit(
            EventType.PANE_STATE_CHANGED,
            pane.layout_id,
            pane.id,
            {"from": str(pane.state), "to": str(pane.state), "failed_stage": str(stage), "reason": reason},
        )

    def hold_restart(
        self, pane: PaneRecord, next_restart_at: str, restarts_in_a_row: int, delay_ms: int
    ) -> None:
        """A restart by policy waits for its back-off. The time goes on the record so the
        next pass sees this hold was announced, and the event is not repeated per pass."""
        self.conn.execute(
            "UPDATE panes SET next_restart_at=?, updated_at=? WHERE id=?",
            (next_restart_at, self.now, pane.id),
        )
        self.emit(
            EventType.PANE_RESTART_BACKOFF,
            pane.layout_id,
            pane.id,
            {
                "next_restart_at": next_restart_at,
                "restarts_in_a_row": restarts_in_a_row,
                "delay_ms": delay_ms,
            },
        )

    def set_activity(self, pane: PaneRecord, activity: str, reason: str, source: str) -> None:
        """What the agent is doing now (its hook or its screen said so), with its event."""
        self.conn.execute(
            "UPDATE panes SET activity=?, activity_reason=?, activity_since=?, activity_source=?,"
            " updated_at=? WHERE id=?",
            (activity, reason, self.now, source, self.now, pane.id),
        )
        payload = {"from": str(pane.activity), "to": str(activity), "reason": reason, "source": source}
        self.emit(EventType.PANE_ACTIVITY_CHANGED, pane.layout_id, pane.id, payload)

    def await_readiness(self, pane: PaneRecord, ready_by: str) -> None:
        """Spawned, registered and logging: `creating` until its readiness probe matches
        (then `ready`) or `ready_by` passes (then `degraded` / `readiness`)."""
        self.conn.execute(
            "UPDATE panes SET ready_by=?, updated_at=? WHERE id=?", (ready_by, self.now, pane.id)
        )

    def set_last_output(self, pane_id: str, text: str) -> None:
        """What the pane's screen showed when its process was seen exited (no event: the
        exit itself has one)."""
        self.conn.execute("UPDATE panes SET last_output=? WHERE id=?", (text, pane_id))

    def hold_crash_loop(self, pane: PaneRecord, reason: str, payload: Mapping[str, Any]) -> None:
        """Restarts of this slot wait for the operator: it failed the same way twice in a row."""
        self.conn.execute(
            "UPDATE panes SET crash_loop=?, updated_at=? WHERE id=?", (reason, self.now, pane.id)
        )
        self.emit(EventType.PANE_CRASH_LOOP_HELD, pane.layout_id, pane.id, {"reason": reason, **payload})

    def input_delivered(self, pane: PaneRecord, payload: Mapping[str, Any]) -> None:
        """The slot's initialInput was typed: never again for this slot (its event says
        how long it was and its sha256, never the text)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO initial_inputs(layout_id, label, pane_id, sha256, delivered_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (pane.layout_id, pane.label, pane.id, payload["sha256"], self.now),
        )
        self.emit(EventType.PANE_INPUT_SENT, pane.layout_id, pane.id, {**payload, "initial": True})

    def record_agent_session(self, pane: PaneRecord, agent_session_id: str) -> None:
        """The id the agent reported for its conversation (what a resume will name)."""
        self.conn.execute(
            "UPDATE panes SET agent_session_id=?, updated_at=? WHERE id=?",
            (agent_session_id, self.now, pane.id),
        )
        self.emit(
            EventType.PANE_AGENT_SESSION_REPORTED,
            pane.layout_id,
            pane.id,
            {"agent_session_id": agent_session_id, "session_id": pane.session_id},
        )

    def attach(self, pane_id: str, tmux_pane_id: str | None, log_path: str | None = None) -> None:
        self.conn.execute(
            "UPDATE panes SET tmux_pane_id=coalesce(?, tmux_pane_id), log_path=coalesce(?, log_path),"
            " updated_at=? WHERE id=?",
            (tmux_pane_id, log_path, self.now, pane_id),
        )

    def move_logs(self, layout_id: str, old_path: str, new_path: str) -> None:
        """A layout's pane records follow their log file, moved aside for a successor layout."""
        self.conn.execute(
            "UPDATE panes SET log_path=? WHERE layout_id=? AND log_path=?", (new_path, layout_id, old_path)
        )

    def register_agent(self, pane: PaneRecord, layout: LayoutRecord, tmux_pane_id: str | None) -> str:
        agent_id = new_id("agt")
        self.conn.execute(
            "INSERT INTO agents(id, pane_id, origin, target_key, tmux_pane_id, layout_name, label,"
            " role, capability, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                agent_id,
                pane.id,
                "managed",
                layout.target_key,
                tmux_pane_id,
                layout.name,
                pane.label,
                pane.role,
                pane.capability,
                self.now,
            ),
        )
        return agent_id

    def remember(self, key: str, op: str, request_hash: str, result: Mapping[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO idempotency(key, op, request_hash, result_json, created_at)"
            " VALUES (?,?,?,?,?)",
            (key, op, request_hash, json.dumps(result), self.now),
        )

    def adopt(
        self, tmux_pane_id: str, target_key: str, layout: str, label: str, role: str, capability: str
    ) -> str:
        agent_id = new_id("agt")
        self.conn.execute(
            "INSERT INTO agents(id, pane_id, origin, target_key, tmux_pane_id, layout_name, label, role,"
            " capability, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (agent_id, None, "adopted", target_key, tmux_pane_id, layout, label, role, capability, self.now),
        )
        return agent_id

    def refresh_layout_state(self, layout_id: str) -> str:
        """Recompute the layout's state from its current panes (one per slot/label)."""
        row = self.conn.execute("SELECT state FROM layouts WHERE id=?", (layout_id,)).fetchone()
        states = [
            r[0]
            for r in self.conn.execute(
                "SELECT state FROM panes p WHERE layout_id=? AND NOT EXISTS"
                " (SELECT 1 FROM panes q WHERE q.predecessor_id = p.id)",
                (layout_id,),
            )
        ]
        new = str(layout_state(states))
        if row and row[0] != new:
            self.conn.execute(
                "UPDATE layouts SET state=?, updated_at=?,"
                " removed_at=CASE WHEN ?='removed' THEN ? ELSE NULL END WHERE id=?",
                (new, self.now, new, self.now, layout_id),
            )
            self.emit(EventType.LAYOUT_STATE_CHANGED, layout_id, None, {"from": row[0], "to": new})
        return new
