"""`--prune-worktree` of `remove` and `delete`: the worktrees of the panes they remove,
refused up front when one has uncommitted changes, removed once the panes are gone.

Without the flag nothing here runs: a worktree and its changes outlive its pane (a
worktree is the agent's work, not agenttower's). The worktrees are found in the pane
records (`launch.worktree`, what the pane was started in), never guessed from paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agenttower.model.resolved import Target, Worktree

FLAG = "--prune-worktree"


@dataclass(frozen=True)
class Owned:
    """A worktree, the target git runs on, and the pane that ran in it."""

    target: Target
    tree: Worktree
    pane: str


def prune_option(func: Any) -> Any:
    return click.option(
        FLAG,
        "prune_worktree",
        is_flag=True,
        help="Also remove the panes' git worktrees (refused if one has uncommitted changes; "
        "the branches stay).",
    )(func)


def of_panes(paths: Any, layouts: Iterable[str], label: str | None = None) -> list[Owned]:
    """The worktrees of the named layouts' panes (of one label only, when given): the
    newest record of each slot, as that is what runs or last ran there."""
    from agenttower.model.resolved import Target, Worktree
    from agenttower.store.repo import Store

    store = Store.open_for_reading(paths.database)
    found: dict[str, Owned] = {}
    try:
        for name in layouts:
            layout = store.layout_by_name(name)
            if layout is None:
                continue
            target = Target.of_record(layout.target_key, layout.resolved)
            newest: dict[str, Any] = {}
            for pane in store.panes(layout.id):
                if label is None or pane.label == label:
                    newest[pane.label] = pane  # records come oldest first
            for pane in sorted(newest.values(), key=lambda p: p.label):
                tree = (pane.launch or {}).get("worktree")
                if isinstance(tree, dict):
                    worktree = Worktree(str(tree["repo"]), str(tree["branch"]), str(tree["path"]))
                    found.setdefault(worktree.path, Owned(target, worktree, f"{name}/{pane.label}"))
    finally:
        store.close()
    return list(found.values())


def refuse_if_changed(owned: list[Owned], settings: Any) -> None:
    """Nothing is touched when one worktree has uncommitted changes (or cannot be read)."""
    from agenttower.model.errors import validation_failed
    from agenttower.runtime import worktree
    from agenttower.runtime.target import ExecTarget

    for item in owned:
        status = worktree.changes(ExecTarget(item.target, settings.tmux.binary), item.tree)
        if not status.ok:
            raise validation_failed(FLAG, f"cannot read worktree {item.tree.path}: {status.message}")
        if status.message.strip():
            changed = len(status.message.strip().splitlines())
            raise validation_failed(
                FLAG,
                f"worktree {item.tree.path} of pane {item.pane} (branch {item.tree.branch}) has "
                f"{changed} uncommitted change(s): commit or stash them, or leave out {FLAG}",
            )


def prune(owned: list[Owned], settings: Any) -> list[str]:
    """Remove each worktree (plain `git worktree remove`); returns one error line per
    worktree git would not remove (it changed after the check): the panes are gone."""
    from agenttower.runtime import worktree
    from agenttower.runtime.target import ExecTarget

    errors: list[str] = []
    for item in owned:
        done = worktree.remove(ExecTarget(item.target, settings.tmux.binary), item.tree)
        if done.ok:
            click.echo(f"worktree {item.tree.path} pruned (branch {item.tree.branch} kept)", err=True)
        else:
            errors.append(f"worktree {item.tree.path} not pruned: {done.message}")
    return errors


def of_pane(paths: Any, name: str) -> list[Owned]:
    """The worktree of the pane `remove` names: `layout/label` (or `pane/layout/label`),
    or a pane record id."""
    from agenttower.store.repo import Store

    layout, _, label = name.removeprefix("pane/").rpartition("/")
    if not layout:
        store = Store.open_for_reading(paths.database)
        try:
            record = store.pane(name)
            owner = store.layout(record.layout_id) if record is not None else None
        finally:
            store.close()
        if record is None or owner is None:
            return []  # `remove` itself says the pane is not found
        layout, label = owner.name, record.label
    return of_panes(paths, [layout], label)
