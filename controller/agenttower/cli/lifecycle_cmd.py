"""Pane lifecycle verbs (`remove`, `recreate`, `restart`, `scan`, `adopt`, `promote`) and `events`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from . import complete
from .apply_cmd import context
from .common import Exit, emit, output_option, path_options, verb
from .worktrees import prune_option


def _run(state_dir: Path | None, desired_dir: Path | None, request: dict[str, Any]) -> dict[str, Any]:
    from .dispatch import dispatch

    paths, settings = context(state_dir, desired_dir)
    return dispatch(paths, settings, request)


def _pane_ref(kind: str, name: str | None, verb_name: str) -> str:
    """`pane team/s1` or `pane/team/s1` (as `get -o name` prints it) -> `team/s1`."""
    from agenttower.model.errors import validation_failed

    from .refs import KINDS, one

    given, pane = one(kind, name, verb_name)
    if KINDS.get(given.lower()) != "panes":
        raise validation_failed("kind", f"{given!r}: this verb takes `pane LAYOUT/LABEL`")
    return pane


def _show(result: dict[str, Any], output: str, text: str) -> None:
    if output in ("json", "yaml"):
        emit(result, output)
    else:
        click.echo(text)


@click.command("remove")
@click.argument("kind", shell_complete=complete.kind)
@click.argument("name", required=False, shell_complete=complete.pane)
@click.option("--wait", is_flag=True, help="Accepted for kubectl habits: remove always waits.")
@prune_option
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def remove_command(
    kind: str,
    name: str | None,
    wait: bool,
    prune_worktree: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Kill a managed pane and keep its history; the slot stays removed until `recreate`.
    Its git worktree, if it has one, stays too unless --prune-worktree is given.

    \b
    Examples:
      agenttower remove pane team/s2
      agenttower remove pane/team/s2
      agenttower remove pane team/s2 --prune-worktree
    """
    name = _pane_ref(kind, name, "remove")
    owned = []
    if prune_worktree:
        from . import worktrees

        paths, settings = context(state_dir, desired_dir)
        owned = worktrees.of_pane(paths, name)
        worktrees.refuse_if_changed(owned, settings)
    result = _run(state_dir, desired_dir, {"op": "remove", "pane": name})
    _show(result, output, f"pane/{result['pane']} removed")
    if owned:
        errors = worktrees.prune(owned, settings)
        for line in errors:
            click.echo(f"error: {line}", err=True)
        if errors:
            raise Exit(1)


@click.command("recreate")
@click.argument("kind", shell_complete=complete.kind)
@click.argument("name", required=False, shell_complete=complete.pane)
@click.option(
    "--launch",
    "profile",
    default=None,
    shell_complete=complete.profile,
    help="Run this LaunchProfile instead of the manifest's.",
)
@click.option("--idempotency-key", default=None, help="Re-sending the same key replays the first result.")
@click.option("--wait", is_flag=True, help="Accepted for kubectl habits: recreate waits for the probe.")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def recreate_command(
    kind: str,
    name: str | None,
    profile: str | None,
    idempotency_key: str | None,
    wait: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """A new pane record for a failed or removed pane, linked to it (predecessorId).

    \b
    Examples:
      agenttower recreate pane team/s1
      agenttower recreate pane/team/s1 --launch claude
    """
    name = _pane_ref(kind, name, "recreate")
    request = {"op": "recreate", "pane": name, "launch": profile, "idempotency_key": idempotency_key}
    result = _run(state_dir, desired_dir, request)
    replay = " (replay)" if result["replay"] else ""
    _show(
        result,
        output,
        f"pane/{result['pane']} recreated as {result['id']} "
        f"(depth {result['chainDepth']}, {result['state']}){replay}",
    )


@click.command("restart")
@click.argument("kind", shell_complete=complete.kind)
@click.argument("name", required=False, shell_complete=complete.pane)
@click.option("--fresh", is_flag=True, help="Start a new conversation (new session id, the command).")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def restart_command(
    kind: str, name: str | None, fresh: bool, output: str, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Stop a pane's agent and bring it back in the same conversation (its profile's
    `resume`), as a linked successor; `--fresh` starts a new conversation instead.

    \b
    Examples:
      agenttower restart pane team/s1
      agenttower restart pane/team/s1 --fresh
    """
    name = _pane_ref(kind, name, "restart")
    result = _run(state_dir, desired_dir, {"op": "restart", "pane": name, "fresh": fresh})
    how = f"resuming {result['resumedFrom']}" if result["resumedFrom"] else "with its command"
    _show(
        result,
        output,
        f"pane/{result['pane']} restarted as {result['id']} {how} "
        f"(session {result['sessionId']}, {result['state']})",
    )


@click.command("scan")
@click.option("--target", default="host", show_default=True, help="host, host:<socket> or container:<name>")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def scan_command(target: str, output: str, state_dir: Path | None, desired_dir: Path | None) -> None:
    """List the panes of a target that agenttower does not manage (adoption candidates).

    \b
    Examples:
      agenttower scan
      agenttower scan --target container:dev -o json
    """
    result = _run(state_dir, desired_dir, {"op": "scan", "target": target})
    if output in ("json", "yaml"):
        emit(result, output)
        return
    from .tables import print_table

    rows = [[p["tmuxPaneId"], p["session"], p["index"], p["title"], p["adoptedAs"]] for p in result["panes"]]
    print_table(("TMUX", "SESSION", "INDEX", "TITLE", "ADOPTED"), rows)


@click.command("adopt")
@click.argument("pane")
@click.option("--layout", required=True)
@click.option("--label", required=True)
@click.option("--role", required=True)
@click.option("--capability", default="worker", show_default=True)
@click.option("--target", default="host", show_default=True)
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def adopt_command(
    pane: str,
    layout: str,
    label: str,
    role: str,
    capability: str,
    target: str,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Register an existing pane (by tmux id, e.g. %7) as an adopted agent: observed, never killed.

    \b
    Examples:
      agenttower adopt %7 --layout team --label x1 --role worker
    """
    request = {
        "op": "adopt",
        "pane": pane,
        "layout": layout,
        "label": label,
        "role": role,
        "capability": capability,
        "target": target,
    }
    result = _run(state_dir, desired_dir, request)
    _show(result, output, f"agent/{result['agentId']} adopted ({pane})")


@click.command("promote")
@click.argument("pane")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def promote_command(pane: str, output: str, state_dir: Path | None, desired_dir: Path | None) -> None:
    """Reserved: promoting an adopted pane to a managed one is not implemented.

    \b
    Examples:
      agenttower promote team/x1
    """
    _run(state_dir, desired_dir, {"op": "promote", "pane": pane})


@click.command("events")
@click.option("--layout", default=None, help="Only this layout's events.")
@click.option("--pane", default=None, help="Only this pane's (LAYOUT/LABEL or pane id).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events, like tail -f.")
@output_option(default="table", choices=("table", "json"))
@path_options
@verb()
def events_command(
    layout: str | None,
    pane: str | None,
    follow: bool,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """The audit trail, oldest first (`-o json`: one JSON object per line).

    \b
    Examples:
      agenttower events --layout team
      agenttower events --pane team/s1 -f -o json
    """
    paths, _ = context(state_dir, desired_dir)
    audit = paths.audit_file
    offset = 0
    while True:
        offset = _print_events(audit, offset, layout, pane, output)
        if not follow:
            return
        time.sleep(0.2)


def _matches(event: dict[str, Any], layout: str | None, pane: str | None) -> bool:
    if layout and layout not in (event.get("layout"), event.get("layout_id")):
        return False
    return not pane or pane in (event.get("pane"), event.get("pane_id"))


def _print_events(audit: Path, offset: int, layout: str | None, pane: str | None, output: str) -> int:
    """Print complete lines after `offset`; return the new offset (a torn tail waits)."""
    if not audit.exists():
        return offset
    with audit.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        event = json.loads(line)
        if not _matches(event, layout, pane):
            continue
        if output == "json":
            click.echo(json.dumps(event, separators=(",", ":")))
        else:
            payload = ", ".join(f"{k}={v}" for k, v in event.get("payload", {}).items() if v is not None)
            who = event.get("pane") or event.get("layout") or "-"
            click.echo(f"{event['timestamp']}  {event['event_type']:<38} {who:<16} {payload}".rstrip())
    return offset + end
