"""`apply`, `diff` and `delete`: desired state in (or out), converged by a controller if
one runs, else in this process.

Everything that can be refused is checked before the desired dir or tmux is touched:
manifests are validated together with the rest of the desired dir, then planned
against one observation, and a blocked layout (name conflict, capacity) stops there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import complete
from .common import Exit, emit, output_option, path_options, verb
from .worktrees import prune_option

if TYPE_CHECKING:
    from agenttower.reconcile.answers import ApplyAnswer
    from agenttower.settings import Settings

ACCEPTED_EXIT = 4


def context(state_dir: Path | None, desired_dir: Path | None) -> tuple[Any, Any]:
    from agenttower.paths import Paths
    from agenttower.settings import Settings

    return Paths.resolve(state_dir, desired_dir), Settings.from_env()


def duration(text: str, option: str) -> float:
    from agenttower.model.durations import parse_duration
    from agenttower.model.errors import validation_failed

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise validation_failed(option, str(exc)) from None


@click.command("apply")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Manifest file or directory.",
)
@click.option("--wait", is_flag=True, help="Wait until every pane is ready or settled.")
@click.option(
    "--timeout",
    default=None,
    help="Deadline of the whole verb, pass and --wait included [default: AGENTTOWER_TIMEOUT, 120s].",
)
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@click.option("--idempotency-key", default=None, help="Re-sending the same key replays the first result.")
@output_option(default="table", choices=("table", "json", "yaml", "name"))
@path_options
@verb()
def apply_command(
    files: tuple[Path, ...],
    wait: bool,
    timeout: str | None,
    dry_run: bool,
    idempotency_key: str | None,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Write manifests into the desired dir and converge tmux to them.

    \b
    Examples:
      agenttower apply -f team.yaml
      agenttower apply -f desired/ --wait --timeout 2m
      agenttower apply -f team.yaml --dry-run
      agenttower apply -f team.yaml -o name   # layout/team
    """
    from agenttower.model.errors import SourceLocation, validation_failed
    from agenttower.reconcile import desired_dir as dd
    from agenttower.reconcile import engine, operations
    from agenttower.reconcile.answers import ApplyAnswer

    from .dispatch import dispatch

    paths, settings = context(state_dir, desired_dir)
    seconds = deadline_seconds(timeout, settings)
    incoming = dd.collect(paths.desired_dir, files)
    if not incoming:
        raise validation_failed("filename", "no *.yaml or *.yml manifests found")
    if not dd.object_count(incoming):  # kubectl's words: an empty file is a mistake, not a no-op
        raise validation_failed("filename", "no objects passed to apply", SourceLocation(incoming[0].display))
    desired = engine.load_desired(paths, incoming)  # refuse bad input before touching anything
    request = {
        "op": "apply",
        "incoming": operations.incoming_to_wire(incoming),
        "dry_run": dry_run,
        "wait": wait,
        "timeout": seconds,
        "idempotency_key": idempotency_key,
    }
    from . import progress

    written = {str(item.destination) for item in incoming}
    names = sorted(n for n, lay in desired.layouts.items() if lay.source and lay.source.file in written)
    live = progress.wanted(output, wait) and not dry_run
    with progress.shown(paths.database, "apply", names, live):
        answer = ApplyAnswer.from_wire(dispatch(paths, settings, request, seconds))
    for warning in answer.warnings:
        click.echo(f"warning: {warning}", err=True)
    for error in answer.errors:
        click.echo(f"error: {error['code']}: {error['message']}", err=True)
    _print_apply(output, answer, paths)
    for pane in answer.not_ready:
        stage = f" ({pane['failedStage']})" if pane["failedStage"] else ""
        reason = f": {pane['reason']}" if pane["reason"] else ""
        click.echo(f"pane {pane['name']} is {pane['state']}{stage}{reason}", err=True)
    if wait:
        for pending in answer.pending:
            click.echo(f"layout {pending.name} was not created: {pending.reason}", err=True)
    raise Exit(apply_exit(answer, wait))


def apply_exit(answer: ApplyAnswer, wait: bool) -> int:
    """Accepted (written, its pass failed: a later pass converges it) is not "nothing
    changed" (1), nor success: it has a code of its own."""
    if answer.accepted:
        return ACCEPTED_EXIT
    if answer.errors:
        return 1
    if wait and (answer.not_ready or answer.pending):
        return 3
    return 0


def deadline_seconds(timeout: str | None, settings: Settings) -> float:
    return settings.verbs.timeout if timeout is None else duration(timeout, "--timeout")


def _print_apply(output: str, answer: ApplyAnswer, paths: Any) -> None:
    suffix = " (dry run)" if answer.dry_run else " (replay)" if answer.replay else ""
    if output in ("table", "name"):
        for name, outcome in answer.layouts.items():
            click.echo(f"layout/{name} {outcome}{suffix}" if output == "table" else f"layout/{name}")
        if output == "table" and answer.dry_run:
            for row in answer.actions:
                click.echo(f"  {row['action']}  # {row['cause']}")
        return
    from agenttower.model.lifecycle import State
    from agenttower.store.repo import Store

    from .views import World, layout_item, pane_item, visible_panes

    store = Store.open_for_reading(paths.database)
    try:
        world = World.load(store, True)
    finally:
        store.close()
    names = set(answer.layouts)
    layout_names = {rec.id: rec.name for rec in world.layouts}
    emit(
        {
            "kind": "ApplyResult",
            "dryRun": answer.dry_run,
            "accepted": answer.accepted,
            "layouts": [{"name": n, "result": str(r)} for n, r in answer.layouts.items()],
            "pending": [p.to_wire() for p in answer.pending],
            "errors": answer.errors,
            "actions": answer.actions,
            "items": [
                layout_item(world, rec)
                for rec in world.layouts
                if rec.name in names and rec.state != State.REMOVED
            ],
            "panes": [
                pane_item(world, p)
                for p in visible_panes(world, False)
                if layout_names.get(p.layout_id) in names
            ],
        },
        output,
    )


@click.command("diff")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Manifest file or directory (default: the desired dir as it is).",
)
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb(error_exit=2)
def diff_command(
    files: tuple[Path, ...], output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Show what apply would do, with causes. Exit 0: nothing to do; 1: something; >1: error.

    \b
    Examples:
      agenttower diff
      agenttower diff -f team.yaml -o json
    """
    from agenttower.reconcile import desired_dir as dd
    from agenttower.reconcile import engine, reconciler

    paths, settings = context(state_dir, desired_dir)
    incoming = dd.collect(paths.desired_dir, files)
    desired = engine.load_desired(paths, incoming)
    for warning in desired.warnings:
        click.echo(f"warning: {warning}", err=True)
    plan = reconciler.diff(paths, settings, desired)  # takes no lock and changes nothing
    if output == "table":
        if plan.actions or plan.notes:  # blocked layouts were raised: the lines `apply` would act on
            click.echo(str(plan))
    else:
        rows = [a.to_wire() for a in plan.actions]
        notes = [{"name": n.name, "note": n.message} for n in plan.notes]
        emit({"kind": "Diff", "actions": rows, "notes": notes}, output)
    raise Exit(1 if plan.actions else 0)


@click.command("delete")
@click.argument("kind", required=False, shell_complete=complete.kind)
@click.argument("names", nargs=-1, shell_complete=complete.layout)
@click.option("-f", "--filename", "files", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Show the panes live on a terminal (delete always waits).")
@click.option(
    "--timeout", default=None, help="Deadline of the whole verb [default: AGENTTOWER_TIMEOUT, 120s]."
)
@prune_option
@output_option(default="table", choices=("table", "json", "yaml", "name"))
@path_options
@verb()
def delete_command(
    kind: str | None,
    names: tuple[str, ...],
    files: tuple[Path, ...],
    wait: bool,
    timeout: str | None,
    prune_worktree: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Kill a layout's panes, keep their records as removed, drop its manifest; git worktrees
    of its panes stay unless --prune-worktree is given.

    \b
    Examples:
      agenttower delete layout team
      agenttower delete layout/team     # as `get -o name` prints it
      agenttower delete -f team.yaml
      agenttower delete layout team --prune-worktree
    """
    from agenttower.model.errors import validation_failed
    from agenttower.reconcile import engine
    from agenttower.reconcile.answers import DeleteAnswer

    from .dispatch import dispatch
    from .refs import split

    kind, names = split(kind, names)  # `delete layout/team` as `get -o name` prints it
    if files and (kind or names):
        raise click.UsageError("use either -f PATH or KIND NAME, not both")
    if files:
        from agenttower.model.manifests import manifest_files, parse_file

        objects = [list(m.key) for f in files for p in manifest_files(f) for m in parse_file(p)]
    elif kind in ("layout", "layouts", "lo") and names:
        objects = [["Layout", name] for name in names]
    elif kind is None:
        raise click.UsageError("say what to delete: -f PATH or layout NAME")
    else:
        raise validation_failed("kind", f"cannot delete {kind!r} (use: layout NAME, or -f PATH)")
    paths, settings = context(state_dir, desired_dir)
    seconds = deadline_seconds(timeout, settings)
    engine.load_desired(paths)  # a broken desired dir is reported before anything is touched
    owned = []
    if prune_worktree:  # refused before anything is touched when one has uncommitted changes
        from . import worktrees

        owned = worktrees.of_panes(paths, [name for kind_, name in objects if kind_ == "Layout"])
        worktrees.refuse_if_changed(owned, settings)
    from . import progress

    layouts = sorted({name for kind_name, name in objects if kind_name == "Layout"})
    with progress.shown(paths.database, "delete", layouts, progress.wanted(output, wait)):
        request = {"op": "delete", "objects": objects}
        answer = DeleteAnswer.from_wire(dispatch(paths, settings, request, seconds))
    for error in answer.errors:
        click.echo(f"error: {error['code']}: {error['message']}", err=True)
    deleted = answer.layouts
    if answer.errors:
        raise Exit(1)
    pruned = worktrees.prune(owned, settings) if owned else []
    for line in pruned:
        click.echo(f"error: {line}", err=True)
    if output == "table":
        for name in deleted:
            click.echo(f"layout/{name} deleted")
    elif output == "name":
        for name in deleted:
            click.echo(f"layout/{name}")
    else:
        emit({"kind": "DeleteResult", "layouts": deleted}, output)
    if pruned:
        raise Exit(1)
