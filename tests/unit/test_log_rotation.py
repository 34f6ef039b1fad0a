"""Copy-truncate rotation and setting a predecessor's logs aside, on real files with a
writer that keeps its file open in append mode, as tmux's `cat >> FILE` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agenttower.model.errors import AgentTowerError
from agenttower.model.log_header import RunHeader, split_runs
from agenttower.reconcile.log_rotation import rotate, set_aside
from agenttower.settings import LogSettings, Settings

HEADER = b"\n" + RunHeader("pane_1", "2026-01-01T00:00:00Z", ("agent",), 80, 24).line().encode() + b"\n"


def test_a_log_under_its_cap_is_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "m1.log"
    log.write_bytes(HEADER + b"x" * 10)
    assert rotate(log, LogSettings(max_bytes=1000, keep=2)) is None
    assert log.read_bytes() == HEADER + b"x" * 10
    assert rotate(tmp_path / "missing.log", LogSettings(max_bytes=1, keep=2)) is None


def test_the_open_writer_goes_on_at_the_start_of_the_truncated_file_and_old_files_shift(
    tmp_path: Path,
) -> None:
    log = tmp_path / "m1.log"
    writer = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(writer, HEADER)
        limits = LogSettings(max_bytes=100, keep=2)
        for burst in range(3):
            os.write(writer, f"burst {burst} ".encode() * 20)
            done = rotate(log, limits)
            assert done is not None and done.kept == min(burst + 1, 2)
            os.write(writer, b"after")  # O_APPEND: lands at the new end, no hole before it
            data = log.read_bytes()
            assert not data.startswith(b"\0") and data.endswith(b"after")
            runs = list(split_runs(data))
            assert len(runs) == 1 and runs[0].header is not None and runs[0].header.continued
    finally:
        os.close(writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1.log", "m1.log.1", "m1.log.2"]
    assert b"burst 2" in (tmp_path / "m1.log.1").read_bytes()
    assert b"burst 1" in (tmp_path / "m1.log.2").read_bytes()  # burst 0's file was dropped
    assert (tmp_path / "m1.log.1").stat().st_mode & 0o777 == 0o600


def test_keep_zero_drops_the_old_bytes(tmp_path: Path) -> None:
    log = tmp_path / "m1.log"
    log.write_bytes(HEADER + b"y" * 500)
    done = rotate(log, LogSettings(max_bytes=100, keep=0))
    assert done is not None and done.kept == 0 and done.size == len(HEADER) + 500
    assert [p.name for p in tmp_path.iterdir()] == ["m1.log"]
    assert b"y" not in log.read_bytes()


def test_a_predecessors_log_and_its_rotated_files_move_aside(tmp_path: Path) -> None:
    log = tmp_path / "m1.log"
    for name in ("m1.log", "m1.log.1", "m1.log.2", "s1.log"):
        (tmp_path / name).write_text(name)
    moved = set_aside(log, "lay_old")
    assert moved == tmp_path / "m1.lay_old.log"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m1.lay_old.log",
        "m1.lay_old.log.1",
        "m1.lay_old.log.2",
        "s1.log",
    ]
    assert (tmp_path / "m1.lay_old.log.2").read_text() == "m1.log.2"
    assert set_aside(log, "lay_other") is None  # nothing left to move


def test_the_log_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().logs == LogSettings(max_bytes=5 * 1024 * 1024, keep=4) == LogSettings()
    monkeypatch.setenv("AGENTTOWER_LOG_MAX_BYTES", "4096")
    monkeypatch.setenv("AGENTTOWER_LOG_KEEP", "0")
    assert Settings.from_env().logs == LogSettings(max_bytes=4096, keep=0)
    monkeypatch.setenv("AGENTTOWER_LOG_MAX_BYTES", "0")
    with pytest.raises(AgentTowerError, match="AGENTTOWER_LOG_MAX_BYTES"):
        Settings.from_env()


def test_a_copy_that_cannot_be_written_truncates_nothing(tmp_path: Path) -> None:
    log = tmp_path / "m1.log"
    log.write_bytes(HEADER + b"z" * 500)
    (tmp_path / "m1.log.1").mkdir()  # where the copy should go: cannot be written
    assert rotate(log, LogSettings(max_bytes=100, keep=1)) is None
    assert log.read_bytes() == HEADER + b"z" * 500


def test_the_remote_script_rotates_home_relative_logs_as_the_local_rotation_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REMOTE_SCRIPT runs on an ssh host's shell (or a container's there); here the host
    target's prefix is empty, so this machine's `sh` runs the very same script."""
    from agenttower.model.resolved import Target
    from agenttower.reconcile.log_rotation import rotate_remote
    from agenttower.runtime.calls import Calls
    from agenttower.runtime.target import ExecTarget

    monkeypatch.setenv("HOME", str(tmp_path))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "m1.log").write_bytes(HEADER + b"big " * 100)
    (logs / "m1.log.1").write_bytes(b"older")
    (logs / "s1.log").write_bytes(HEADER + b"small")
    named = ["~/logs/m1.log", "~/logs/s1.log", "~/logs/gone.log"]
    done = rotate_remote(ExecTarget(Target()), named, LogSettings(max_bytes=200, keep=2), Calls())
    assert [(str(r.path), r.size, r.kept) for r in done] == [("~/logs/m1.log", len(HEADER) + 400, 2)]
    assert (logs / "m1.log.2").read_bytes() == b"older"  # shifted
    assert (logs / "m1.log.1").read_bytes() == HEADER + b"big " * 100
    runs = list(split_runs((logs / "m1.log").read_bytes()))
    assert len(runs) == 1 and runs[0].header is not None and runs[0].header.continued
    assert runs[0].header.pane_id == "pane_1" and runs[0].data == b""
    assert (logs / "s1.log").read_bytes() == HEADER + b"small"  # under its cap: untouched
    again = rotate_remote(ExecTarget(Target()), named, LogSettings(max_bytes=200, keep=2), Calls())
    assert again == []  # the continued header alone is under the cap
    runs = list(split_runs((logs / "m1.log").read_bytes()))
    assert runs[0].header is not None and runs[0].header.continued  # continued once, not twice
    with (logs / "m1.log").open("ab") as more:
        more.write(b"more " * 100)
    (done,) = rotate_remote(ExecTarget(Target()), named, LogSettings(max_bytes=200, keep=2), Calls())
    text = (logs / "m1.log").read_text()
    assert text.count("continued after rotation") == 1 and "more" not in text
    assert b"more" in (logs / "m1.log.1").read_bytes() and b"big" in (logs / "m1.log.2").read_bytes()
