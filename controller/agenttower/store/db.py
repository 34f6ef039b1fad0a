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


READ_BUSY_TIMEOUT_S = 5.0  # WAL readers do not wait on writers; only a recovering WAL makes them


def present(path: Path) -> bool:
    """A database worth opening: an empty file is what a truncation to zero leaves, and
    SQLite would silently take it for a new database."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def connect_readonly(path: Path) -> sqlite3.Connection | None:
    """A connection that cannot write, for the read verbs: they must leave no trace, not
    even a migration, and never wait on a writer. None when there is no database.

    A WAL reader needs the -shm file; in a dir it cannot write (a read-only mount), with
    no -shm left by a writer, it is opened immutable instead: nobody can be writing there."""
    if not present(path):
        return None
    conn = _readonly(path, immutable=False)
    try:
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        cantopen = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_CANTOPEN
        if not cantopen or os.access(path.parent, os.W_OK):
            raise
        conn = _readonly(path, immutable=True)
    return conn


def _readonly(path: Path, immutable: bool) -> sqlite3.Connection:
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=READ_BUSY_TIMEOUT_S)
    conn.row_factory = sqlite3.Row
    return conn


def schema_current(conn: sqlite3.Connection) -> bool:
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS)


def connect_empty() -> sqlite3.Connection:
    """An in-memory database at the current schema: what a read verb sees when there is
    no database yet, without creating one."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
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
            if callable(script):
                script(conn)
                conn.execute(f"PRAGMA user_version = {number}")
                continue
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
