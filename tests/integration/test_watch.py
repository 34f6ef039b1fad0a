"""The desired-dir watcher on a real filesystem (inotify through watchfiles).

A link re-pointed between a pass's read and the loop's next `ensure()` moves the watch
to the new target; stopping the old watch drops the event it had not yielded yet, so
the move itself must mark the state dirty (a missed swap waited for the resync).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from agenttower.daemon.watch import Watcher, watch_plan


def test_a_link_re_pointed_before_the_old_watch_yields_marks_the_state_dirty(tmp_path: Path) -> None:
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        (tmp_path / version / f"{version}.yaml").write_text("{}\n")
    desired = tmp_path / "desired"
    desired.symlink_to(tmp_path / "v1")
    calls: list[str] = []
    lock = threading.Lock()

    def dirty() -> None:
        with lock:
            calls.append(threading.current_thread().name)

    watcher = Watcher(desired, dirty)
    watcher.ensure()
    try:
        assert calls == []  # the first start is no change: the first pass reads the dir anyway
        swapped = tmp_path / ".desired.tmp"
        swapped.symlink_to(tmp_path / "v2")
        os.replace(swapped, desired)  # how `ln -sfn` re-points a link
        watcher.ensure()  # at once, as the loop does after a pass: the old watch has not yielded
        with lock:
            assert calls and calls[0] == threading.current_thread().name
        assert watcher.plan == watch_plan(desired)
        assert (tmp_path / "v2").resolve() in watcher.plan[0].roots
    finally:
        watcher.stop()
