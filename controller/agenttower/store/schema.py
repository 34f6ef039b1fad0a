"""Versioned migrations, applied in order and recorded in `PRAGMA user_version`.

A migration is SQL, or a function of the connection for what SQL alone cannot say
(a table rebuilt from its own stored definition, whatever columns later migrations add).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

_STATES = "'creating','ready','degraded','failed','removed'"
_STAGES = "'pane_create','launch_command','registration','log_attach','tmux_kill','recovery_reattach'"

Migration = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: tuple[Migration, ...] = (
    f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE layouts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        target_key TEXT NOT NULL,
        session TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ({_STATES})),
        spec_json TEXT NOT NULL,
        source_file TEXT,
        event_seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT
    );
    CREATE UNIQUE INDEX layouts_live_name ON layouts(name) WHERE state != 'removed';
    CREATE TABLE panes (
        id TEXT PRIMARY KEY,
        layout_id TEXT NOT NULL REFERENCES layouts(id),
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        capability TEXT NOT NULL,
        slot INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ({_STATES})),
        failed_stage TEXT CHECK (failed_stage IS NULL OR failed_stage IN ({_STAGES})),
        reason TEXT,
        exit_code INTEGER,
        spec_hash TEXT NOT NULL,
        launch_json TEXT NOT NULL,
        marker_token TEXT NOT NULL,
        owner TEXT NOT NULL,
        tmux_pane_id TEXT,
        predecessor_id TEXT REFERENCES panes(id),
        chain_depth INTEGER NOT NULL DEFAULT 0,
        removed_by TEXT,
        log_path TEXT,
        event_seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        ready_at TEXT,
        ended_at TEXT
    );
    CREATE UNIQUE INDEX panes_live_label ON panes(layout_id, label)
        WHERE state IN ('creating', 'ready', 'degraded');
    CREATE INDEX panes_layout ON panes(layout_id);
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        pane_id TEXT REFERENCES panes(id),
        origin TEXT NOT NULL CHECK (origin IN ('managed', 'adopted')),
        target_key TEXT NOT NULL,
        tmux_pane_id TEXT,
        layout_name TEXT,
        label TEXT,
        role TEXT,
        capability TEXT,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX agents_pane ON agents(pane_id) WHERE pane_id IS NOT NULL;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        written INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_unwritten ON outbox(seq) WHERE written = 0;
    """,
)

MIGRATIONS += (
    """
    ALTER TABLE layouts ADD COLUMN resolved_json TEXT;
    ALTER TABLE layouts ADD COLUMN fingerprint TEXT;
    ALTER TABLE layouts ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE layouts ADD COLUMN observed_generation INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE layouts ADD COLUMN conditions_json TEXT NOT NULL DEFAULT '[]';
    """,
)

MIGRATIONS += (
    """
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        op TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        result_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
)

# When a restart by policy is held by back-off, and how many restarts in a row made the
# pane: the planner reads both back, so a hold is recorded (and its event emitted) once,
# and the back-off of a slot that was stable once does not start over with its first
# quick crash. Existing records count their chain depth as their restarts in a row.
MIGRATIONS += (
    """
    ALTER TABLE panes ADD COLUMN next_restart_at TEXT;
    ALTER TABLE panes ADD COLUMN restarts_in_a_row INTEGER NOT NULL DEFAULT 0;
    UPDATE panes SET restarts_in_a_row = chain_depth;
    """,
)

# A slot's conversation: the id agenttower gives it (`AGENTTOWER_SESSION_ID`, kept from
# predecessor to successor), the id the agent reported itself (its hooks set a pane
# option), and the id a record was started to resume (NULL: it ran `command`), which
# the planner reads back to fall back to `command` when a resume exits at once.
MIGRATIONS += (
    """
    ALTER TABLE panes ADD COLUMN session_id TEXT;
    ALTER TABLE panes ADD COLUMN agent_session_id TEXT;
    ALTER TABLE panes ADD COLUMN resumed_from TEXT;
    """,
)

# What an agent is doing (working | waiting | idle | unknown), why, since when, and who
# said so (its hook, or its screen: a screen's "waiting" outlives a hook's "idle" until
# a later screen shows otherwise); and until when a pane waits for its readiness probe
# (the pipeline's last stage: the record stays `creating` until then).
MIGRATIONS += (
    """
    ALTER TABLE panes ADD COLUMN activity TEXT NOT NULL DEFAULT 'unknown'
        CHECK (activity IN ('working', 'waiting', 'idle', 'unknown'));
    ALTER TABLE panes ADD COLUMN activity_reason TEXT;
    ALTER TABLE panes ADD COLUMN activity_since TEXT;
    ALTER TABLE panes ADD COLUMN activity_source TEXT;
    ALTER TABLE panes ADD COLUMN ready_by TEXT;
    """,
)


def _stage_readiness(conn: sqlite3.Connection) -> None:
    """The `readiness` failed stage. SQLite cannot change a CHECK constraint in place, so
    the table is rebuilt (https://sqlite.org/lang_altertable.html#otheralter) from its own
    stored definition with that one list extended: the columns are whatever earlier
    migrations made. Runs inside the migration's transaction; foreign keys (agents and
    successors point at panes) are deferred to its commit, by which every row is back."""
    table, indexes = _definition(conn, "panes")
    stages = re.search(r"failed_stage IN \(([^)]*)\)", table)
    assert stages is not None, "panes.failed_stage has no CHECK list"
    if "'readiness'" in stages.group(1):
        return
    widened = table.replace(stages.group(0), f"failed_stage IN ({stages.group(1)},'readiness')", 1)
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.execute("CREATE TEMP TABLE panes_before_readiness AS SELECT * FROM panes")
    conn.execute("DROP TABLE panes")
    conn.execute(widened)
    conn.execute("INSERT INTO panes SELECT * FROM temp.panes_before_readiness")
    conn.execute("DROP TABLE temp.panes_before_readiness")
    for index in indexes:
        conn.execute(index)


def _definition(conn: sqlite3.Connection, table: str) -> tuple[str, list[str]]:
    """A table's CREATE statement and those of its indexes, as SQLite stored them."""
    rows = conn.execute(
        "SELECT type, sql FROM sqlite_schema WHERE tbl_name=? AND sql IS NOT NULL", (table,)
    ).fetchall()
    create = next(str(sql) for kind, sql in rows if kind == "table")
    return create, [str(sql) for kind, sql in rows if kind == "index"]


MIGRATIONS += (_stage_readiness,)

# What a pane printed last before its process exited (its screen, kept by remain-on-exit,
# bounded), and, once the same failure came twice in a row, why its restarts are held:
# `describe` shows the first, the planner reads the second back so the hold (and its
# event) is recorded once. A slot's initialInput is typed once: the slot (layout record
# and label, whatever record speaks for it later) is remembered when it was.
MIGRATIONS += (
    """
    ALTER TABLE panes ADD COLUMN last_output TEXT;
    ALTER TABLE panes ADD COLUMN crash_loop TEXT;
    CREATE TABLE initial_inputs (
        layout_id TEXT NOT NULL REFERENCES layouts(id),
        label TEXT NOT NULL,
        pane_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        PRIMARY KEY (layout_id, label)
    );
    """,
)
