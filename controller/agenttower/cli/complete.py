"""Names for shell completion (`agenttower completion bash|zsh|fish`): kinds, and the
names of layouts, panes, templates and profiles as the state store and desired dir know them.

A completer runs on every TAB, so it only reads (store opened read-only, no tmux), and
a failure completes nothing rather than printing a traceback into the user's prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from .refs import KINDS, NAME_PREFIX

LISTED_KINDS = ("layouts", "panes", "agents", "templates", "launchprofiles", "lo", "tpl", "lp")


def _paths(ctx: click.Context) -> Any:
    from agenttower.paths import Paths

    root = ctx.find_root()
    state = ctx.params.get("state_dir") or root.params.get("state_dir")
    desired = ctx.params.get("desired_dir") or root.params.get("desired_dir")
    return Paths.resolve(
        state if isinstance(state, Path) else None, desired if isinstance(desired, Path) else None
    )


def names_of(ctx: click.Context, what: str) -> list[str]:
    """Every name of one kind (its plural), best effort."""
    paths = _paths(ctx)
    if what in ("templates", "launchprofiles"):
        from .catalog_view import Declared

        declared = Declared.load(paths)
        items = declared.templates() if what == "templates" else declared.profiles()
        return [i["metadata"]["name"] for i in items]
    if not paths.database.exists():
        return []
    from agenttower.model.lifecycle import State
    from agenttower.store.records import current_panes
    from agenttower.store.repo import Store

    store = Store.open_for_reading(paths.database)
    try:
        layouts = [r for r in store.layouts(include_removed=False) if r.state != State.REMOVED]
        if what == "layouts":
            return sorted({r.name for r in layouts})
        if what == "agents":
            return [a.id for a in store.agents()]
        panes = store.panes()
        names: list[str] = []
        for rec in layouts:
            names.extend(
                f"{rec.name}/{label}" for label in current_panes(p for p in panes if p.layout_id == rec.id)
            )
        return sorted(names)
    finally:
        store.close()


def _safe(ctx: click.Context, what: str) -> list[str]:
    try:
        return names_of(ctx, what)
    except Exception:  # a prompt is no place for a traceback
        return []


def kind(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """A kind, or `TYPE/NAME` once the kind is typed with its slash (`pane/te` -> `pane/team/s1`)."""
    head, sep, _ = incomplete.partition("/")
    if sep and head.lower() in KINDS:
        what = KINDS[head.lower()]
        return [
            CompletionItem(f"{head}/{n}") for n in _safe(ctx, what) if f"{head}/{n}".startswith(incomplete)
        ]
    return [CompletionItem(k) for k in LISTED_KINDS if k.startswith(incomplete)]


def _kind_of(ctx: click.Context, default: str) -> str:
    given = ctx.params.get("kind")
    return KINDS.get(str(given).lower().partition("/")[0], default) if given else default


def name(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """A name of the kind typed before it (`get layout <TAB>`, `restart pane <TAB>`)."""
    what = _kind_of(ctx, "layouts")
    return [CompletionItem(n) for n in _safe(ctx, what) if n.startswith(incomplete)]


def layout(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in _safe(ctx, "layouts") if n.startswith(incomplete)]


def pane(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """A pane as `layout/label` (also with its `pane/` prefix, as `-o name` prints it)."""
    names = _safe(ctx, "panes")
    prefix = NAME_PREFIX["panes"] + "/"
    if incomplete.startswith(prefix):
        names = [prefix + n for n in names]
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def profile(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in _safe(ctx, "launchprofiles") if n.startswith(incomplete)]
