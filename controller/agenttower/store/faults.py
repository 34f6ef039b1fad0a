"""Storage faults as typed reasons, and the one sentence per reason that says what to do.

A full disk, a read-only or foreign-owned state dir, a locked or corrupt database and
an unwritable audit file used to surface as a bare `internal_error`. They stay
`internal_error` (FEAT-013's closed set), but with details `{path, reason, file}` and a
message that names the file and the fix; the reason is decided from the exception's
errno or SQLite result code, never from its text, and no exception text goes out.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from enum import StrEnum
from pathlib import Path

from agenttower.model.errors import AgentTowerError, ErrorCode


class Fault(StrEnum):
    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    PERMISSION_DENIED = "permission_denied"
    LOCKED = "locked"
    CORRUPT = "corrupt"
    NOT_A_DATABASE = "not_a_database"
    CANNOT_OPEN = "cannot_open"
    IO_ERROR = "io_error"
    DATABASE_MISSING = "database_missing"


class StoredFile(StrEnum):
    DATABASE = "database"
    AUDIT_FILE = "audit_file"
    STATE_FILE = "state_file"


_SQLITE: dict[int, Fault] = {
    sqlite3.SQLITE_FULL: Fault.DISK_FULL,
    sqlite3.SQLITE_READONLY: Fault.READ_ONLY,
    sqlite3.SQLITE_PERM: Fault.PERMISSION_DENIED,
    sqlite3.SQLITE_BUSY: Fault.LOCKED,
    sqlite3.SQLITE_LOCKED: Fault.LOCKED,
    sqlite3.SQLITE_CORRUPT: Fault.CORRUPT,
    sqlite3.SQLITE_NOTADB: Fault.NOT_A_DATABASE,
    sqlite3.SQLITE_CANTOPEN: Fault.CANNOT_OPEN,
    sqlite3.SQLITE_IOERR: Fault.IO_ERROR,
}

_ERRNO: dict[int, Fault] = {
    errno.ENOSPC: Fault.DISK_FULL,
    errno.EDQUOT: Fault.DISK_FULL,
    errno.EROFS: Fault.READ_ONLY,
    errno.EACCES: Fault.PERMISSION_DENIED,
    errno.EPERM: Fault.PERMISSION_DENIED,
    errno.EIO: Fault.IO_ERROR,
}

_WHAT = {
    StoredFile.DATABASE: "the database",
    StoredFile.AUDIT_FILE: "the audit file",
    StoredFile.STATE_FILE: "the file",
}


def sqlite_fault(exc: sqlite3.Error, path: Path) -> Fault | None:
    """SQLite's primary result code; CANTOPEN in a dir we may not write is read-only."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    fault = _SQLITE.get(code & 0xFF)
    if fault is Fault.CANNOT_OPEN and path.parent.exists() and not os.access(path.parent, os.W_OK):
        return Fault.READ_ONLY
    return fault


def os_fault(exc: OSError) -> Fault | None:
    return _ERRNO.get(exc.errno) if exc.errno is not None else None


def _advice(fault: Fault, file: StoredFile, path: Path) -> str:
    where = path.parent
    if fault is Fault.DISK_FULL:
        return f"no space left on the file system of {where}: free some space (`df -h {where}`), then retry"
    if fault is Fault.READ_ONLY:
        return (
            f"{where} is read-only: remount it read-write, or point AGENTTOWER_STATE_DIR at a "
            "writable dir (read verbs still work)"
        )
    if fault is Fault.PERMISSION_DENIED:
        return f"permission denied: `ls -l {path}`; `chown -R $USER {where}` if another user owns it"
    if fault is Fault.LOCKED:
        return (
            "another process holds its write lock and did not let go: find it with "
            f"`fuser -v {path}*` and stop it (a controller can be stopped safely), then retry"
        )
    if fault in (Fault.CORRUPT, Fault.NOT_A_DATABASE):
        return (
            f"stop the controller, move {path} aside and restore it from a backup "
            f"(`sqlite3 {path} .recover | sqlite3 NEW` salvages what is readable); "
            "`agenttower doctor` checks the result"
        )
    if fault is Fault.IO_ERROR:
        return "the disk reported an I/O error: check `dmesg` and the device"
    return f"check that {path} exists and that {where} is a dir you can write"


_SUMMARY = {
    Fault.DISK_FULL: "cannot be written: the disk is full",
    Fault.READ_ONLY: "cannot be written: it is on a read-only file system",
    Fault.PERMISSION_DENIED: "cannot be opened: permission denied",
    Fault.LOCKED: "is locked",
    Fault.CORRUPT: "is corrupt",
    Fault.NOT_A_DATABASE: "is not an SQLite database",
    Fault.CANNOT_OPEN: "cannot be opened",
    Fault.IO_ERROR: "cannot be read or written: I/O error",
    Fault.DATABASE_MISSING: "is missing",
}


def describe(fault: Fault, file: StoredFile, path: Path) -> tuple[str, str]:
    """(what is wrong, what to do): also the detail and fix of a `doctor` check."""
    return f"{_WHAT[file]} {path} {_SUMMARY[fault]}", _advice(fault, file, path)


def storage_error(fault: Fault, file: StoredFile, path: Path, note: str = "") -> AgentTowerError:
    problem, fix = describe(fault, file, path)
    message = f"{problem}{note}; {fix}"
    return AgentTowerError(
        ErrorCode.INTERNAL_ERROR, message, {"path": str(path), "reason": str(fault), "file": str(file)}
    )


_AUDIT_NOTE = (
    " (the change itself is recorded: its events wait in the database's outbox and are"
    " appended by the next command that writes)"
)


def translate(exc: BaseException, database: Path, audit_file: Path) -> AgentTowerError | None:
    """The storage error an exception stands for, or None when it is not one."""
    if isinstance(exc, sqlite3.Error):
        fault = Fault.NOT_A_DATABASE if database.is_dir() else sqlite_fault(exc, database)
        return storage_error(fault, StoredFile.DATABASE, database) if fault else None
    if isinstance(exc, OSError):
        fault = os_fault(exc)
        if fault is None:
            return None
        path = Path(exc.filename) if isinstance(exc.filename, str) else database.parent
        if path == audit_file:
            return storage_error(fault, StoredFile.AUDIT_FILE, path, _AUDIT_NOTE)
        file = StoredFile.DATABASE if path.name.startswith(database.name) else StoredFile.STATE_FILE
        return storage_error(fault, file, path)
    return None
