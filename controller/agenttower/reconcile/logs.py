"""Pane log files on the host: `<state>/logs/<target>/<layout>/<label>.log`.

The log is created here, host side, before tmux pipes into it: `pipe-pane` to an
unwritable path returns 0 and tmux never says it failed, so `log_attach` is decided
by whether agenttower itself can create and write the file.
"""

from __future__ import annotations

import os
from pathlib import Path


def target_dir_name(target_key: str) -> str:
    return target_key.replace("/", "_")


def log_path(logs_dir: Path, target_key: str, layout: str, label: str) -> Path:
    return logs_dir / target_dir_name(target_key) / layout / f"{label}.log"


def prepare(path: Path) -> str | None:
    """Create the log file (and its dirs); None when fine, else the reason it is not."""
    try:
        for directory in (path.parents[2], path.parents[1], path.parents[0]):  # logs/<target>/<layout>
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        return f"log path {path} is not writable on the host: {exc.strerror}"
    return None


def still_writable(path: Path) -> str | None:
    if not path.exists():
        return f"log file {path} disappeared"
    if not os.access(path, os.W_OK):
        return f"log file {path} is not writable"
    return None
