"""Readable pane logs against a real tmux server: a full-screen program's log reads as
the words it showed, each run of a slot starts with its header, a pass caps the file
by rotation, and a re-created layout starts its own file."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.manifests import layout, pane, profile, write

pytestmark = pytest.mark.tmux

# A full-screen program: the alternate screen, absolute cursor moves, a counter redrawn
# in place, a clear, then back to the main screen. Its log holds none of the words in
# reading order: only a terminal emulator puts them back.
FULL_SCREEN = r"""
import sys, time
out = sys.stdout
out.write("before the screen\n")
out.write("\x1b[?1049h\x1b[2J\x1b[H")
out.write("\x1b[3;10HWelcome\x1b[3;18Hto\x1b[3;21Hthe board")
for i in range(5):
    out.write(f"\x1b[6;4Hcounter {i}\x1b[1;1HTOP OF THE SCREEN")
    out.flush()
    time.sleep(0.02)
out.write("\x1b[8;1Hthe words it showed")
out.write("\x1b[?1049l")
out.write("after the screen\n")
out.flush()
time.sleep(600)
"""

LINES = r"""
import sys
for line in sys.stdin:  # one burst of output per line typed into the pane
    for i in range(40):
        print(f"burst {line.strip()} row {i:02d} " + "x" * 80, flush=True)
"""


def one_pane(name: str, command: list[str]) -> tuple[dict[str, object], dict[str, object]]:
    return (
        layout(name, None, panes=[pane("master", "m1")], launch={"master:m1": "prog"}),
        profile("prog", command),
    )


def apply_ok(at: type[AtCli], path: Path) -> None:
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr


def panes(at: type[AtCli]) -> dict[str, dict[str, object]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict)
    return {i["metadata"]["name"]: i["status"] for i in data["items"]}


def events(env: Env, kind: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(env.state_dir / "agenttower.sqlite3")
    try:
        bodies = [json.loads(row[0]) for row in conn.execute("SELECT body FROM outbox ORDER BY seq")]
    finally:
        conn.close()
    return [b for b in bodies if b["event_type"] == kind]


def test_logs_of_a_full_screen_program_read_as_the_words_it_showed(env: Env, at: type[AtCli]) -> None:
    script = env.root / "board.py"
    script.write_text(FULL_SCREEN)
    apply_ok(at, write(env.root / "b.yaml", *one_pane("b", [sys.executable, str(script)])))
    log = Path(str(panes(at)["b/m1"]["logPath"]))
    eventually(lambda: b"after the screen" in log.read_bytes(), what="the program's last words")
    raw = at.run("logs", "b/m1", "--raw")
    assert raw.exit_code == 0
    assert "\x1b[?1049h" in raw.stdout and "Welcome\x1b[3;18Hto" in raw.stdout  # the bytes as written
    text = at.run("logs", "b/m1")
    assert text.exit_code == 0, text.stderr
    assert "\x1b" not in text.stdout
    lines = text.stdout.splitlines()
    record = panes(at)["b/m1"]["id"]
    assert lines[0].startswith(f"=== run of pane {record}, started ") and str(script) in lines[0]
    words = [line.strip() for line in lines[1:] if line.strip()]
    assert words == [
        "before the screen",
        "TOP OF THE SCREEN",
        "Welcome to the board",
        "counter 4",
        "the words it showed",
        "after the screen",
    ]
    rendered = [json.loads(line) for line in at.run("logs", "b/m1", "-o", "json").stdout.splitlines()]
    assert rendered[0]["run"]["paneId"] == record
    assert rendered[0]["run"]["argv"] == [sys.executable, str(script)]
    assert {"pane": "b/m1", "line": "after the screen"} in rendered


def test_each_run_of_a_slot_starts_with_its_header_and_logs_shows_them_apart(
    env: Env, at: type[AtCli]
) -> None:
    command = ["sh", "-c", 'echo "hello from $AGENTTOWER_PANE_ID"; exec sleep 600']
    apply_ok(at, write(env.root / "r.yaml", *one_pane("r", command)))
    first = str(panes(at)["r/m1"]["id"])
    log = Path(str(panes(at)["r/m1"]["logPath"]))
    eventually(lambda: f"hello from {first}".encode() in log.read_bytes(), what="the first run's line")
    assert at.run("restart", "pane", "r/m1").exit_code == 0
    second = str(panes(at)["r/m1"]["id"])
    assert second != first
    eventually(lambda: f"hello from {second}".encode() in log.read_bytes(), what="the second run's line")
    raw = log.read_text()
    headers = [line for line in raw.splitlines() if line.startswith("--- agenttower run: pane ")]
    assert [h.split()[4] for h in headers] == [first, second]
    assert all(" size " in h and "x" in h.split(" size ")[1] and '"sh","-c"' in h for h in headers)
    text = at.run("logs", "r/m1").stdout.splitlines()
    runs = [i for i, line in enumerate(text) if line.startswith("=== run of pane ")]
    assert len(runs) == 2
    assert text[runs[0]].startswith(f"=== run of pane {first},")
    assert f"hello from {first}" in text[runs[0] : runs[1]]
    assert text[runs[1]].startswith(f"=== run of pane {second},")
    assert f"hello from {second}" in text[runs[1] :]
    assert f"hello from {first}" not in text[runs[1] :]


def test_a_pass_rotates_a_log_past_its_cap_and_keeps_the_set_number_of_files(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTOWER_LOG_MAX_BYTES", "2000")
    monkeypatch.setenv("AGENTTOWER_LOG_KEEP", "2")
    script = env.root / "bursts.py"
    script.write_text(LINES)
    path = write(env.root / "z.yaml", *one_pane("z", [sys.executable, str(script)]))
    apply_ok(at, path)
    status = panes(at)["z/m1"]
    log = Path(str(status["logPath"]))
    for burst in range(4):
        env.tmux("send-keys", "-t", str(status["tmuxPaneId"]), f"b{burst}", "Enter")
        eventually(lambda b=burst: f"burst b{b} row 39".encode() in log.read_bytes(), what=f"burst {burst}")
        before = log.stat().st_size
        assert before > 2000
        env.reset_calls()
        apply_ok(at, path)  # a pass: nothing to do for tmux, the log is past its cap
        assert [c.split()[0] for c in env.tmux_calls()] == ["list-panes"]  # rotating costs no tmux call
        assert log.stat().st_size < 2000  # its continuation header (and any echo since)
        assert f"burst b{burst} row 39".encode() in (log.with_name(log.name + ".1")).read_bytes()
        assert len(events(env, "managed_pane_log_rotated")) == burst + 1
    assert sorted(p.name for p in log.parent.iterdir()) == ["m1.log", "m1.log.1", "m1.log.2"]
    assert b"burst b2 row 39" in log.with_name("m1.log.2").read_bytes()  # b0 and b1 were dropped
    rotated = events(env, "managed_pane_log_rotated")[-1]
    assert rotated["payload"]["kept"] == 2 and rotated["pane"] == "z/m1"
    current = at.run("logs", "z/m1")
    assert current.stdout.splitlines()[0].endswith(", continued after rotation ===")
    assert "rotated to m1.log.1" in current.stderr and "--rotated 1" in current.stderr
    newest = at.run("logs", "z/m1", "--rotated", "1").stdout.splitlines()
    assert newest[0].endswith(", continued after rotation ===")  # b3's file began after a rotation
    assert newest[-1].startswith("burst b3 row 39 ")


def test_a_deleted_and_recreated_layout_does_not_append_to_its_predecessors_log(
    env: Env, at: type[AtCli]
) -> None:
    first = write(env.root / "d.yaml", *one_pane("d", ["sh", "-c", "echo first layout; exec sleep 600"]))
    apply_ok(at, first)
    old = panes(at)["d/m1"]
    log = Path(str(old["logPath"]))
    eventually(lambda: b"first layout" in log.read_bytes(), what="the first layout's output")
    assert at.run("delete", "layout", "d").exit_code == 0
    second = write(env.root / "d.yaml", *one_pane("d", ["sh", "-c", "echo second layout; exec sleep 600"]))
    apply_ok(at, second)
    new = panes(at)["d/m1"]
    assert new["logPath"] == str(log)  # the documented path
    eventually(lambda: b"second layout" in log.read_bytes(), what="the second layout's output")
    assert b"first layout" not in log.read_bytes()
    mine = at.run("logs", "d/m1").stdout
    assert "second layout" in mine and "first layout" not in mine
    theirs = at.run("logs", str(old["id"]))  # the old record follows its file
    assert theirs.exit_code == 0, theirs.stderr
    assert "first layout" in theirs.stdout and "second layout" not in theirs.stdout
    every = at.json("get", "panes", "-A")
    assert isinstance(every, dict)
    aside = Path(next(i["status"]["logPath"] for i in every["items"] if i["status"]["id"] == old["id"]))
    assert aside.parent == log.parent and aside.name.startswith("m1.lay") and aside.name.endswith(".log")
    assert sorted(p.name for p in log.parent.iterdir()) == sorted(["m1.log", aside.name])
