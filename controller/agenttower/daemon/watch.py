"""Watching the desired dir with watchfiles: events only mark the state dirty.

Level-triggered: whatever happened (an atomic-rename save, `git checkout`, editor temp
files, `.git/` churn), the loop re-reads the whole dir, so one event or a hundred end
in the same pass. watchfiles' default 1.6 s debounce is far too slow; a 50 ms step
keeps a save-to-first-tmux-call latency well under 150 ms. Symlinked dirs and files
are followed by watching what they resolve to; the periodic resync catches the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from agenttower.model.manifests import manifest_files

DEBOUNCE_MS = 100
STEP_MS = 30


def watch_roots(desired_dir: Path) -> tuple[list[Path], bool]:
    """What to watch and whether recursively: the desired dir (resolved) and the resolved
    parents of symlinked manifests; while the dir does not exist, only the nearest
    existing ancestor, not recursively (it may hold the busy state dir)."""
    if not desired_dir.exists():
        parent = desired_dir.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        return [parent.resolve()], False
    roots = {desired_dir.resolve()}
    for file in manifest_files(desired_dir):
        if file.resolve().parent != file.parent.resolve() or file.is_symlink():
            roots.add(file.resolve().parent)
    return sorted(roots), True


class Watcher:
    """A background thread that calls `on_change` after each batch of file events."""

    def __init__(self, desired_dir: Path, on_change: Callable[[], None]) -> None:
        self.desired_dir = desired_dir
        self.on_change = on_change
        self.roots: list[Path] = []
        self.recursive = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure(self) -> None:
        """(Re)start watching when the set of roots changed (a new symlink, the dir appeared)."""
        roots, recursive = watch_roots(self.desired_dir)
        if (roots, recursive) == (self.roots, self.recursive) and self._thread and self._thread.is_alive():
            return
        self.stop()
        self.roots, self.recursive = roots, recursive
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(roots, recursive, self._stop), daemon=True, name="watch"
        )
        self._thread.start()

    def _run(self, roots: list[Path], recursive: bool, stop: threading.Event) -> None:
        try:
            for _changes in watchfiles.watch(
                *roots,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                recursive=recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
                watch_filter=None,
                force_polling=os.environ.get("AGENTTOWER_WATCH_POLLING") == "1",
            ):
                self.on_change()
        except (OSError, RuntimeError):
            self.on_change()  # a vanished root: the resync and the next ensure() take over

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._thread = None
