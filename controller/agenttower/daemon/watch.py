"""Watching the desired dir with watchfiles: events only mark the state dirty.

Level-triggered: whatever happened (an atomic-rename save, `git checkout`, editor temp
files, `.git/` churn), the loop re-reads the whole dir, so one event or a hundred end
in the same pass. watchfiles' default 1.6 s debounce is far too slow; a 50 ms step
keeps a save-to-first-tmux-call latency well under 150 ms. Symlinked dirs and files
are followed by watching what they resolve to; the periodic resync catches the rest.

A desired dir that is a symlink is switched by re-pointing the link (`ln -sfn v2
desired`, how dotfile managers change versions): nothing changes inside the old
target, so its watch sees nothing. The dir holding each link of the chain is watched
too (not recursively, for that link's name only), and every wake re-resolves the
roots, so the watch moves to the new target.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from agenttower.model.manifests import manifest_files

DEBOUNCE_MS = 100
STEP_MS = 30
MAX_LINKS = 40  # the kernel's own limit on a chain of symlinks


@dataclass(frozen=True)
class WatchSet:
    """Roots watched by one watchfiles loop; `names`: only changes to these entries count."""

    roots: tuple[Path, ...]
    recursive: bool
    names: frozenset[str] | None = None

    def wanted(self, _change: watchfiles.Change, path: str) -> bool:
        return self.names is None or os.path.basename(path) in self.names


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


def link_watches(desired_dir: Path) -> list[WatchSet]:
    """For each symlink on the way from the desired dir to its target: its parent dir,
    for that one name, so re-pointing the link is an event."""
    watches: list[WatchSet] = []
    path = Path(os.path.abspath(desired_dir))
    for _ in range(MAX_LINKS):
        if not path.is_symlink():
            break
        parent = path.parent.resolve()
        watches.append(WatchSet((parent,), False, frozenset({path.name})))
        path = Path(os.path.abspath(parent / os.readlink(path)))
    return watches


def watch_plan(desired_dir: Path) -> tuple[WatchSet, ...]:
    roots, recursive = watch_roots(desired_dir)
    return (WatchSet(tuple(roots), recursive), *link_watches(desired_dir))


class Watcher:
    """Background threads that call `on_change` after each batch of file events."""

    def __init__(self, desired_dir: Path, on_change: Callable[[], None]) -> None:
        self.desired_dir = desired_dir
        self.on_change = on_change
        self.plan: tuple[WatchSet, ...] = ()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def ensure(self) -> None:
        """(Re)start watching when what to watch changed (a new symlink, a link re-pointed,
        the dir appeared). A changed plan is itself a change: the link may have been
        re-pointed after the last pass read the dir and before the old watch yielded its
        event (stopping it drops that event), so the state is marked dirty."""
        plan = watch_plan(self.desired_dir)
        if plan == self.plan and self._threads and all(t.is_alive() for t in self._threads):
            return
        moved = bool(self.plan) and plan != self.plan
        self.stop()
        self.plan = plan
        if moved:
            self.on_change()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(watch, self._stop), daemon=True, name="watch")
            for watch in plan
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, watch: WatchSet, stop: threading.Event) -> None:
        try:
            for _changes in watchfiles.watch(
                *watch.roots,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                recursive=watch.recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
                watch_filter=None if watch.names is None else watch.wanted,
                force_polling=os.environ.get("AGENTTOWER_WATCH_POLLING") == "1",
            ):
                self.on_change()
        except (OSError, RuntimeError):
            self.on_change()  # a vanished root: the resync and the next ensure() take over

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []
