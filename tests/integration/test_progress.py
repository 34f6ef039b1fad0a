"""`apply --wait` and `delete --wait` show live pane lines on a terminal (a real pty),
and print exactly what they printed before into a pipe or with `-o json`."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

LABELS = ("master:m1", "slave:s1", "slave:s2")


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with its stdout on a pty (stderr piped); what the terminal got."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "agenttower", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = child.wait(timeout=120)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agenttower", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def manifest(env: Env, name: str) -> Path:
    sleepy = layout(name, "1m+2s", launch=dict.fromkeys(LABELS, f"sleepy-{name}"))
    return write(env.root / f"{name}.yaml", sleepy, profile(f"sleepy-{name}", SLEEP))


def test_apply_and_delete_wait_show_one_line_per_pane_and_a_summary_on_a_terminal(env: Env) -> None:
    code, shown = on_a_terminal("apply", "-f", str(manifest(env, "tty")), "--wait")
    assert code == 0, shown
    for label in ("m1", "s1", "s2"):
        assert any(f"tty/{label}" in line and "ready" in line for line in shown.splitlines()), shown
    assert "apply: 3/3 panes ready" in shown
    assert "layout/tty created" in shown  # the verb's own result still follows
    code, shown = on_a_terminal("delete", "layout", "tty", "--wait")
    assert code == 0, shown
    assert any("tty/m1" in line and "removed" in line for line in shown.splitlines()), shown
    assert "delete: 3/3 panes removed" in shown
    assert "layout/tty deleted" in shown


def test_apply_wait_is_quiet_into_a_pipe_and_json_is_unchanged_on_a_terminal(env: Env) -> None:
    done = piped("apply", "-f", str(manifest(env, "pipe")), "--wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "layout/pipe created\n"
    code, shown = on_a_terminal("apply", "-f", str(manifest(env, "js")), "--wait", "-o", "json")
    assert code == 0, shown
    answer = json.loads(shown)
    assert answer["kind"] == "ApplyResult" and "apply:" not in shown
    deleted = piped("delete", "layout", "pipe", "--wait")
    assert deleted.returncode == 0 and deleted.stdout == "layout/pipe deleted\n"
