"""`doctor`'s storage checks: the faults a verb would stop on, found before it does.

The file system of the state dir (read-only, full), the database (opens, schema, a full
`integrity_check`, a write lock somebody keeps, missing while tmux runs panes an older
database owns) and the audit file (writable, and holding every outbox event). Each
failure carries the same sentence the verb itself would print. Nothing here writes:
the database is opened read-only and a torn audit line is reported, not cut.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agenttower.events import audit
from agenttower.paths import Paths
from agenttower.store.faults import Fault, StoredFile, describe, sqlite_fault

MIN_FREE_BYTES = 1024 * 1024
INTEGRITY_LIMIT = 10

CheckFactory = Callable[[str, str, str, str | None], Any]


def _fault_check(make: CheckFactory, name: str, fault: Fault, file: StoredFile, path: Path) -> Any:
    detail, fix = describe(fault, file, path)
    return make(name, "fail", detail, fix)


def read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def file_system(paths: Paths, make: CheckFactory) -> list[Any]:
    """Read-only and full are properties of the mount, seen before any write fails."""
    try:
        info = os.statvfs(paths.state_dir)
    except OSError:
        return []
    if info.f_flag & os.ST_RDONLY:
        return [_fault_check(make, "state dir", Fault.READ_ONLY, StoredFile.DATABASE, paths.database)]
    if info.f_bavail * info.f_frsize < MIN_FREE_BYTES:
        return [_fault_check(make, "state dir", Fault.DISK_FULL, StoredFile.DATABASE, paths.database)]
    return []


def database(paths: Paths, listings: Mapping[str, Any], make: CheckFactory) -> list[Any]:
    from agenttower.store.db import connect_readonly, present

    if not present(paths.database):
        return _missing(paths, listings, make)
    try:
        conn = connect_readonly(paths.database)
        assert conn is not None
        try:
            return _inspect(conn, paths, make)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        fault = sqlite_fault(exc, paths.database) or Fault.CANNOT_OPEN
        return [_fault_check(make, "database", fault, StoredFile.DATABASE, paths.database)]


def _missing(paths: Paths, listings: Mapping[str, Any], make: CheckFactory) -> list[Any]:
    from agenttower.reconcile.fresh_state import describe_missing, owned_in

    found = owned_in(listings)
    if not found.total:
        return [
            make("database", "ok", f"{paths.database} not created yet (the first apply creates it)", None)
        ]
    problem, fix = describe_missing(paths, found)
    return [make("database", "fail", problem, fix)]


def _inspect(conn: sqlite3.Connection, paths: Paths, make: CheckFactory) -> list[Any]:
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({INTEGRITY_LIMIT})")]
    if rows != ["ok"]:
        detail, fix = describe(Fault.CORRUPT, StoredFile.DATABASE, paths.database)
        return [make("database", "fail", f"{detail}: integrity_check: {'; '.join(rows)}", fix)]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    count = conn.execute("SELECT count(*) FROM layouts").fetchone()[0]
    checks = [make("database", "ok", f"schema v{version}, {count} layout records, integrity ok", None)]
    checks += _write_lock(paths, make)
    checks += _audit(conn, paths, make)
    return checks


def _write_lock(paths: Paths, make: CheckFactory) -> list[Any]:
    """Whether a writer could start now: `BEGIN IMMEDIATE`, not waiting, then rolled back."""
    if not os.access(paths.state_dir, os.W_OK):
        return []
    conn = sqlite3.connect(paths.database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if sqlite_fault(exc, paths.database) is not Fault.LOCKED:
            raise
        detail, fix = describe(Fault.LOCKED, StoredFile.DATABASE, paths.database)
        return [make("database lock", "warn", f"{detail} (a pass in progress holds it briefly)", fix)]
    finally:
        conn.close()
    return []


def _audit(conn: sqlite3.Connection, paths: Paths, make: CheckFactory) -> list[Any]:
    path = paths.audit_file
    ids = [str(r[0]) for r in conn.execute("SELECT event_id FROM outbox ORDER BY seq")]
    if path.is_symlink() or (path.exists() and audit.mark_of(path) is None):
        return [make("audit file", "fail", f"{path} is not a regular file", f"rm {path} (it is rebuilt)")]
    writable = os.access(path if path.exists() else paths.state_dir, os.W_OK)
    if not writable:
        return [_fault_check(make, "audit file", Fault.PERMISSION_DENIED, StoredFile.AUDIT_FILE, path)]
    lacking, torn = audit.missing(path, ids)
    if not lacking and not torn:
        return [make("audit file", "ok", f"{path}: all {len(ids)} events", None)]
    what = f"{lacking} of {len(ids)} events missing" + (", a torn last line" if torn else "")
    fix = "the next command that writes (apply, delete, ...) repairs it from the database's outbox"
    return [make("audit file", "warn", f"{path}: {what}", fix)]
