"""Versioned migrations, applied in order and recorded in `PRAGMA user_version`."""

from __future__ import annotations

_STATES = "'creating','ready','degraded','failed','removed'"
_STAGES = "'pane_create','launch_command','registration','log_attach','tmux_kill','recovery_reattach'"

MIGRATIONS: tuple[str, ...] = (
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
