"""Connections and transactions: WAL, foreign keys, and `BEGIN IMMEDIATE` writes.

Python's sqlite3 starts deferred transactions, and a read-then-write transaction then
fails at once with "database is locked" whatever the timeout; autocommit mode plus an
explicit `BEGIN IMMEDIATE` takes the write lock up front and waits for it instead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .schema import MIGRATIONS

BUSY_TIMEOUT_S = 30.0


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = os.umask(0o077)  # the held specs inside may carry env secrets: owner only (and -wal, -shm)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    finally:
        os.umask(old)
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection | None:
    """A connection that cannot write, for the read verbs: they must leave no trace, not
    even a migration. None when there is no database yet or its schema is older (the
    caller then opens it normally, which migrates)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    conn.row_factory = sqlite3.Row
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS)
    except sqlite3.Error:
        current = False
    if not current:
        conn.close()
        return None
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; rolled back whole on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> None:
    with immediate(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
