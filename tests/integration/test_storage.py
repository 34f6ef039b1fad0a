"""Storage faults: reads never wait on writers, every fault is said with its file and its
fix, a missing database is refused while tmux runs its panes, and the audit file is
repaired from the outbox."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

LAUNCH = {"master:m1": "sleepy", "slave:s1": "sleepy", "slave:s2": "sleepy"}
HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
conn.execute(sys.argv[2])
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def database(env: Env) -> Path:
    return env.state_dir / "agenttower.sqlite3"


def audit_file(env: Env) -> Path:
    return env.state_dir / "events.jsonl"


def up(env: Env, at: type[AtCli]) -> Path:
    path = write(env.root / "team.yaml", layout("team", launch=LAUNCH), profile("sleepy", SLEEP))
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    return path


@contextlib.contextmanager
def writer_holding(db: Path, statement: str = "BEGIN IMMEDIATE") -> Iterator[subprocess.Popen[str]]:
    """Another process in a write transaction until the block ends (it is still in it,
    checked, when the block returns: whatever ran inside ran while the lock was held)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), statement],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
        assert holder.poll() is None, "the writer let go of its lock early"
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)


def storage_error(result: Any) -> dict[str, Any]:
    """The `{"error": ...}` of a verb run with `-o json`, checked to be a storage fault."""
    assert result.exit_code == 1, result.output + result.stderr
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    assert error["code"] == "internal_error"
    assert "AGENTTOWER_DEBUG" not in error["message"] and "Traceback" not in result.output
    return error


def accepted_error(result: Any) -> dict[str, Any]:
    """An `apply -o json` whose manifest was written but whose pass hit a storage fault:
    accepted (exit 4), with the fault as its first error."""
    assert result.exit_code == 4, result.output + result.stderr
    answer = json.loads(result.stdout)
    assert answer["accepted"] and "Traceback" not in result.output
    error: dict[str, Any] = answer["errors"][0]
    assert error["code"] == "internal_error" and "AGENTTOWER_DEBUG" not in error["message"]
    return error


def run_doctor(at: type[AtCli]) -> dict[str, Any]:
    """`doctor -o json`, whatever its exit code (1 when a check failed)."""
    result = at.run("doctor", "-o", "json")
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == (0 if report["ok"] else 1)
    return report


def outbox(env: Env) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{database(env)}?mode=ro", uri=True)) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT body FROM outbox ORDER BY seq")]


# ---- item: reads take no write lock ---------------------------------------------------


def test_fr022_read_verbs_answer_while_a_writer_holds_the_lock(env: Env, at: type[AtCli]) -> None:
    manifest = up(env, at)
    reads = [
        ("get", "layouts"),
        ("get", "panes", "-o", "json"),
        ("describe", "layout", "team"),
        ("diff", "-f", str(manifest)),
        ("events",),
        ("logs", "team/m1"),
        ("wait", "layout", "team", "--for", "condition=Ready", "--timeout", "5s"),
    ]
    with writer_holding(database(env)):
        results = {args[0]: at.run(*args) for args in reads}
    for verb, result in results.items():
        assert result.exit_code == 0, (verb, result.output, result.stderr)
    assert "team/m1" in results["get"].output or "team" in results["get"].output
    assert "managed_layout_created" in results["events"].output


def read_only_mount(path: Path) -> contextlib.AbstractContextManager[None]:
    """A read-only bind mount of `path` onto itself: tests run as root, which ignores
    permission bits, but not a read-only file system."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount(8)")

    @contextlib.contextmanager
    def mounted() -> Iterator[None]:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
            yield
        finally:
            subprocess.run(["umount", "-l", str(path)], check=True)  # pane logs keep files open

    return mounted()


def test_fr022_reads_work_and_writes_say_why_on_a_read_only_state_dir(env: Env, at: type[AtCli]) -> None:
    manifest = up(env, at)
    assert not Path(f"{database(env)}-shm").exists()  # the hard case: a reader must not create it
    with read_only_mount(env.state_dir):
        panes = at.json("get", "panes")["items"]  # type: ignore[index]
        assert {p["status"]["state"] for p in panes} == {"ready"}
        assert at.run("describe", "pane", "team/m1").exit_code == 0
        assert at.run("diff", "-f", str(manifest)).exit_code == 0
        error = storage_error(at.run("delete", "layout", "team", "-o", "json"))
        assert error["details"]["reason"] == "read_only"
        assert "read-only" in error["message"] and "AGENTTOWER_STATE_DIR" in error["message"]
        doctor = run_doctor(at)
        assert any(c["status"] == "fail" and "read-only" in c["detail"] for c in doctor["checks"])


# ---- item: storage faults are said ----------------------------------------------------


@contextlib.contextmanager
def full_disk(env: Env, at: type[AtCli]) -> Iterator[Path]:
    """The state dir on a 4 MiB tmpfs with a layout applied, then filled to the last byte."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    env.state_dir.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=700", "tmpfs", str(env.state_dir)], check=True
    )
    try:
        manifest = up(env, at)
        # a reader keeps -wal and -shm in place, so the writer fails on its first page
        with contextlib.closing(sqlite3.connect(database(env))) as keep:
            keep.execute("SELECT count(*) FROM panes").fetchone()
            filler = env.state_dir / "filler"
            with filler.open("wb") as fh, contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            yield manifest
    finally:
        subprocess.run(["umount", "-l", str(env.state_dir)], check=True)


def test_fr022_a_full_disk_is_said_and_reads_still_work(env: Env, at: type[AtCli]) -> None:
    with full_disk(env, at) as manifest:
        env.tmux("kill-pane", "-t", at.json("get", "pane", "team/s1")["status"]["tmuxPaneId"])  # type: ignore[index]
        # the manifest was written (the desired dir is elsewhere): accepted, with why it waits
        error = accepted_error(at.run("apply", "-f", str(manifest), "-o", "json"))
        assert error["details"]["reason"] == "disk_full"
        assert "disk is full" in error["message"] and "df -h" in error["message"]
        assert at.run("get", "panes").exit_code == 0
        doctor = run_doctor(at)
        assert any(c["status"] == "fail" and "disk is full" in c["detail"] for c in doctor["checks"])


def corrupt_a_middle_page(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.seek((size // 4096 // 2) * 4096)
        fh.write(os.urandom(4096))


def test_fr022_a_corrupt_database_is_said_and_doctor_finds_it(env: Env, at: type[AtCli]) -> None:
    up(env, at)
    doctor = run_doctor(at)
    assert any(c["name"] == "database" and c["status"] == "ok" for c in doctor["checks"])
    with contextlib.closing(sqlite3.connect(database(env))) as conn:  # room for a middle page
        conn.execute("CREATE TABLE padding(x)")
        conn.executemany("INSERT INTO padding VALUES (?)", [("x" * 1000,)] * 200)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    corrupt_a_middle_page(database(env))
    doctor = run_doctor(at)
    assert not doctor["ok"]
    check = next(c for c in doctor["checks"] if c["name"] == "database")
    assert check["status"] == "fail" and "is corrupt" in check["detail"]
    assert "backup" in check["fix"]

    database(env).write_bytes(b"this is not sqlite" * 300)
    error = storage_error(at.run("get", "panes", "-o", "json"))
    assert error["details"] == {"path": str(database(env)), "reason": "not_a_database", "file": "database"}
    assert "restore it from a backup" in error["message"]


def test_fr022_a_database_locked_by_another_process_is_said(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = up(env, at)
    monkeypatch.setattr("agenttower.store.db.BUSY_TIMEOUT_S", 0.2)  # not 30 s of waiting in a test
    with writer_holding(database(env), "BEGIN EXCLUSIVE"):
        error = storage_error(at.run("apply", "-f", str(manifest), "-o", "json"))
        doctor = run_doctor(at)
    assert error["details"]["reason"] == "locked" and "fuser" in error["message"]
    assert any(c["name"] == "database lock" and c["status"] == "warn" for c in doctor["checks"])


def test_fr015_an_unwritable_audit_file_is_said_and_its_events_wait(env: Env, at: type[AtCli]) -> None:
    manifest = up(env, at)
    audit_file(env).unlink()
    audit_file(env).symlink_to("/dev/full")
    env.tmux("kill-pane", "-t", at.json("get", "pane", "team/s1")["status"]["tmuxPaneId"])  # type: ignore[index]
    error = accepted_error(at.run("apply", "-f", str(manifest), "-o", "json"))
    assert error["details"] == {"path": str(audit_file(env)), "reason": "disk_full", "file": "audit_file"}
    assert "outbox" in error["message"]
    audit_file(env).unlink()
    assert at.run("apply", "-f", str(manifest)).exit_code == 0
    assert [json.loads(line)["event_id"] for line in audit_file(env).read_text().splitlines()] == [
        e["event_id"] for e in outbox(env)
    ]


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_fr022_a_missing_database_next_to_live_panes_is_refused(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    manifest = up(env, at)
    for leftover in env.state_dir.glob("agenttower.sqlite3*"):
        leftover.unlink()
    if how == "emptied":
        database(env).write_bytes(b"")
    error = storage_error(at.run("apply", "-f", str(manifest), "-o", "json"))
    assert error["details"]["reason"] == "database_missing" and error["details"]["panes"] == {"host": 3}
    assert (
        "restore the database" in error["message"].lower() and "AGENTTOWER_FRESH_STATE=1" in error["message"]
    )
    assert not database(env).exists() or database(env).stat().st_size == 0  # nothing papered over
    doctor = run_doctor(at)
    check = next(c for c in doctor["checks"] if c["name"] == "database")
    assert check["status"] == "fail" and "missing" in check["detail"] and "3 on host" in check["detail"]

    monkeypatch.setenv("AGENTTOWER_FRESH_STATE", "1")
    again = at.run("apply", "-f", str(manifest))  # starting over on purpose: the old session is foreign
    assert "managed_session_name_conflict" in again.stderr
    assert database(env).stat().st_size > 0


# ---- item: the audit file is repaired -------------------------------------------------


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "deleted":
        path.unlink()
    elif how == "cut_in_half":
        path.write_bytes(data[: len(data) // 2])
    else:  # a torn last line: the last event half written
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        path.write_bytes(data[: last + (len(data) - last) // 2])


def assert_gap_free(events: list[dict[str, Any]]) -> None:
    for key, seq in (("layout_id", "layout_seq"), ("pane_id", "pane_seq")):
        by: dict[str, list[int]] = {}
        for event in events:
            if event[key] is not None:
                by.setdefault(event[key], []).append(event[seq])
        for numbers in by.values():
            assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("how", ["deleted", "cut_in_half", "torn_last_line"])
def test_fr015_the_audit_file_is_repaired_from_the_outbox(env: Env, at: type[AtCli], how: str) -> None:
    manifest = up(env, at)
    damage(audit_file(env), how)
    assert at.run("apply", "-f", str(manifest)).exit_code == 0  # the next write verb
    text = audit_file(env).read_text()
    assert text.endswith("\n")
    events = [json.loads(line) for line in text.splitlines()]
    assert [e["event_id"] for e in events] == [e["event_id"] for e in outbox(env)]
    assert_gap_free(events)
