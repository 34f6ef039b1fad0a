"""`apply`, `diff` and `delete`: desired state in (or out), one pass in-process.

Everything that can be refused is checked before the desired dir or tmux is touched:
manifests are validated together with the rest of the desired dir, then planned
against one observation, and a blocked layout (name conflict, capacity) stops here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import Exit, emit, output_option, path_options, verb

if TYPE_CHECKING:
    from agenttower.model.desired import Desired
    from agenttower.paths import Paths
    from agenttower.reconcile.actions import Plan
    from agenttower.reconcile.desired_dir import Incoming
    from agenttower.reconcile.engine import Session


def _context(state_dir: Path | None, desired_dir: Path | None) -> tuple[Paths, Any]:
    from agenttower.paths import Paths
    from agenttower.reconcile.settings import Settings

    return Paths.resolve(state_dir, desired_dir), Settings.from_env()


def _duration(text: str, option: str) -> float:
    from agenttower.model.durations import parse_duration
    from agenttower.model.errors import validation_failed

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise validation_failed(option, str(exc)) from None


def _warn(desired: Desired) -> None:
    for warning in desired.warnings:
        click.echo(f"warning: {warning}", err=True)


def _action_rows(plan: Plan) -> list[dict[str, str]]:
    return [{"action": a.describe(), "target": a.target_key, "cause": a.cause} for a in plan.actions]


def _applied_layouts(desired: Desired, incoming: Sequence[Incoming]) -> list[str]:
    shown = {item.display for item in incoming}
    return [m.name for m in desired.manifests if m.kind == "Layout" and m.document.file in shown]


def _layout_results(plan: Plan, names: Sequence[str]) -> dict[str, str]:
    from agenttower.reconcile.actions import CreateLayout

    results = {}
    for name in names:
        mine = [
            a
            for a in plan.actions
            if getattr(getattr(a, "layout", None), "name", None) == name
            or getattr(a, "name", "").split("/")[0] == name
        ]
        if any(isinstance(a, CreateLayout) for a in mine):
            results[name] = "created"
        else:
            results[name] = "configured" if mine else "unchanged"
    return results


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
@click.option("--timeout", default="120s", show_default=True, help="How long --wait waits.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@output_option(default="table", choices=("table", "json", "yaml", "name"))
@path_options
@verb()
def apply_command(
    files: tuple[Path, ...],
    wait: bool,
    timeout: str,
    dry_run: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Write manifests into the desired dir and converge tmux to them."""
    from agenttower.model.errors import validation_failed
    from agenttower.reconcile import desired_dir as dd
    from agenttower.reconcile import engine

    paths, settings = _context(state_dir, desired_dir)
    deadline = time.monotonic() + _duration(timeout, "--timeout")
    incoming = dd.collect(paths.desired_dir, files)
    if not incoming:
        raise validation_failed("filename", "no *.yaml or *.yml manifests found")
    desired = engine.load_desired(paths, incoming)
    _warn(desired)
    applied = _applied_layouts(desired, incoming)
    with engine.session(paths, settings) as session:
        snapshot = session.snapshot()
        observed = session.observe(desired, snapshot)
        plan = session.plan(desired, snapshot, observed)
        for blocked in plan.blocked:
            if blocked.layout in applied:
                raise blocked.error
            click.echo(f"warning: layout {blocked.layout}: {blocked.error.message}", err=True)
        if dry_run:
            _print_apply(output, plan, _layout_results(plan, applied), session, applied, True)
            return
        for item in incoming:
            current = item.destination.read_text("utf-8") if item.destination.exists() else None
            if current != item.text:
                dd.write_atomic(item.destination, item.text)
        result = engine.PassResult(plan, observed)
        session.execute(result)
        for error in result.errors:
            click.echo(f"error: {error.code}: {error.located_message()}", err=True)
        if wait:
            _settle(session, paths, deadline, applied)
        _print_apply(output, plan, _layout_results(plan, applied), session, applied, False)
        if result.errors:
            raise Exit(1)
        if wait and _not_ready(session, applied, output):
            raise Exit(3)


def _settle(session: Session, paths: Paths, deadline: float, names: Sequence[str]) -> None:
    """Passes until no pane of `names` is still creating, or the deadline."""
    from agenttower.reconcile import engine

    while _creating(session, names) and time.monotonic() < deadline:
        time.sleep(0.2)
        session.run_pass(engine.load_desired(paths))


def _current(session: Session, names: Sequence[str]) -> list[tuple[str, Any]]:
    from agenttower.reconcile.plan import current_panes

    found = []
    for name in names:
        rec = session.store.layout_by_name(name)
        if rec is None:
            continue
        for pane in sorted(current_panes(session.store.panes(rec.id)).values(), key=lambda p: p.slot):
            found.append((f"{name}/{pane.label}", pane))
    return found


def _creating(session: Session, names: Sequence[str]) -> bool:
    return any(p.state == "creating" for _, p in _current(session, names))


def _not_ready(session: Session, names: Sequence[str], output: str) -> bool:
    bad = [(n, p) for n, p in _current(session, names) if p.state not in ("ready", "removed")]
    for name, pane in bad:
        stage = f" ({pane.failed_stage})" if pane.failed_stage else ""
        reason = f": {pane.reason}" if pane.reason else ""
        click.echo(f"pane {name} is {pane.state}{stage}{reason}", err=True)
    return bool(bad)


def _print_apply(
    output: str, plan: Plan, results: dict[str, str], session: Session, names: Sequence[str], dry_run: bool
) -> None:
    from .views import World, layout_item, pane_item

    suffix = " (dry run)" if dry_run else ""
    if output in ("table", "name"):
        for name, result in results.items():
            click.echo(f"layout/{name} {result}{suffix}" if output == "table" else f"layout/{name}")
        if output == "table" and dry_run:
            for row in _action_rows(plan):
                click.echo(f"  {row['action']}  # {row['cause']}")
        return
    world = World.load(session.store, True)
    live = [rec for rec in world.layouts if rec.name in names and rec.state != "removed"]
    emit(
        {
            "kind": "ApplyResult",
            "dryRun": dry_run,
            "layouts": [{"name": n, "result": r} for n, r in results.items()],
            "actions": _action_rows(plan),
            "items": [layout_item(world, rec) for rec in live],
            "panes": [pane_item(world, p) for _, p in _current(session, names)] if not dry_run else [],
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
    """Show what apply would do, with causes. Exit 0: nothing to do; 1: something; >1: error."""
    from agenttower.reconcile import desired_dir as dd
    from agenttower.reconcile import engine

    paths, settings = _context(state_dir, desired_dir)
    incoming = dd.collect(paths.desired_dir, files)
    desired = engine.load_desired(paths, incoming)
    _warn(desired)
    with engine.session(paths, settings) as session:
        snapshot = session.snapshot()
        plan = session.plan(desired, snapshot, session.observe(desired, snapshot))
    if plan.blocked:
        raise plan.blocked[0].error
    rows = _action_rows(plan)
    notes = [{"name": n.name, "note": n.message} for n in plan.notes]
    if output == "table":
        for row in rows:
            click.echo(f"+ {row['action']}  # {row['cause']}")
        for note in notes:
            click.echo(f"~ {note['name']}: {note['note']}")
    else:
        emit({"kind": "Diff", "actions": rows, "notes": notes}, output)
    raise Exit(1 if rows else 0)


@click.command("delete")
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "files", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Accepted for kubectl habits: delete always waits.")
@output_option(default="table", choices=("table", "json", "yaml", "name"))
@path_options
@verb()
def delete_command(
    kind: str | None,
    names: tuple[str, ...],
    files: tuple[Path, ...],
    wait: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Kill a layout's panes, keep their records as removed, drop its manifest."""
    from agenttower.model.errors import validation_failed

    if files and (kind or names):
        raise click.UsageError("use either -f PATH or KIND NAME, not both")
    if files:
        from agenttower.model.manifests import manifest_files, parse_file

        objects = [m.key for f in files for p in manifest_files(f) for m in parse_file(p)]
    elif kind in ("layout", "layouts", "lo") and names:
        objects = [("Layout", name) for name in names]
    elif kind is None:
        raise click.UsageError("say what to delete: -f PATH or layout NAME")
    else:
        raise validation_failed("kind", f"cannot delete {kind!r} (use: layout NAME, or -f PATH)")
    deleted = _delete(objects, state_dir, desired_dir)
    if output == "table":
        for name in deleted:
            click.echo(f"layout/{name} deleted")
    elif output == "name":
        for name in deleted:
            click.echo(f"layout/{name}")
    else:
        emit({"kind": "DeleteResult", "layouts": deleted}, output)


def _delete(
    objects: Sequence[tuple[str, str]], state_dir: Path | None, desired_dir: Path | None
) -> list[str]:
    from agenttower.model.desired import resolve
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.model.legacy import load_legacy
    from agenttower.reconcile import desired_dir as dd
    from agenttower.reconcile import engine

    paths, settings = _context(state_dir, desired_dir)
    desired = engine.load_desired(paths)
    wanted = set(objects)
    found = {m.key: m for m in desired.manifests if m.key in wanted}
    layouts = sorted(name for kind, name in wanted if kind == "Layout")
    with engine.session(paths, settings) as session:
        for name in layouts:
            rec = session.store.layout_by_name(name)
            if ("Layout", name) not in found and (rec is None or rec.state == "removed"):
                raise AgentTowerError(
                    ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r} not found", {"layout_id": name}
                )
        remaining = [m for m in desired.manifests if m.key not in wanted]
        resolve(remaining, load_legacy(paths.legacy_templates_dir, paths.legacy_profiles_dir))
        dd.remove_objects(found)
        result = session.run_pass(engine.load_desired(paths), deletes=layouts)
        for error in result.errors:
            click.echo(f"error: {error.code}: {error.located_message()}", err=True)
    return layouts
