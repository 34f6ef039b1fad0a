"""`controller run` (the long-running loop) and `wait` (kubectl-style condition waits)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from . import complete
from .apply_cmd import context, duration
from .common import Exit, emit, output_option, path_options, verb


@click.group("controller")
def controller_group() -> None:
    """The long-running reconciler.

    \b
    Examples:
      agenttower controller run
    """


@controller_group.command("run")
@click.option("--resync", default="30s", show_default=True, help="Full resync period (with 10% jitter).")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
@click.option("--allow-empty", is_flag=True, help="Allow a pass to prune every layout (empty desired dir).")
@click.option(
    "--target-host",
    metavar="NAME",
    default=None,
    help="This controller is host NAME: reconcile only layouts whose spec.target.host is NAME "
    "(run on this machine) or unset; leave every other layout alone (default: AGENTTOWER_TARGET_HOST).",
)
@output_option(default="table", choices=("table", "json"))
@path_options
@verb()
def run_command(
    resync: str,
    log_format: str,
    allow_empty: bool,
    target_host: str | None,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Watch the desired dir and keep tmux converged, in the foreground.

    \b
    Examples:
      agenttower controller run --resync 30s
      agenttower controller run --log-format json
      agenttower controller run --desired-dir ~/fleet --target-host "$(hostname -s)"
    """
    from agenttower.daemon.controller import Controller
    from agenttower.daemon.logging import configure
    from agenttower.settings import target_host as checked_host

    paths, settings = context(state_dir, desired_dir)
    host = checked_host(target_host, "--target-host")
    configure(log_format)
    raise Exit(Controller(paths, settings, duration(resync, "--resync"), allow_empty, host).run())


@click.command("wait")
@click.argument("kind", shell_complete=complete.kind)
@click.argument("name", required=False, shell_complete=complete.layout)
@click.option(
    "--for", "condition", required=True, help="condition=Ready (or Stalled, Reconciling; =False too)"
)
@click.option("--timeout", default="60s", show_default=True)
@output_option(default="table", choices=("table", "json"))
@path_options
@verb()
def wait_command(
    kind: str,
    name: str | None,
    condition: str,
    timeout: str,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Wait for a layout's condition, like `kubectl wait --for=condition=Ready`.

    \b
    Examples:
      agenttower wait layout team --for=condition=Ready --timeout 2m
      agenttower wait layout/team --for=condition=Stalled=False
    """
    from agenttower.model.errors import validation_failed
    from agenttower.model.lifecycle import State
    from agenttower.store.repo import Store

    from .get_cmd import find_layout
    from .refs import KINDS, one
    from .views import World

    kind, name = one(kind, name, "wait")  # `layout/team` too, as `get -o name` prints it
    if KINDS.get(kind.lower()) != "layouts":
        raise validation_failed("kind", "wait takes layout NAME")
    what, _, rest = condition.partition("=")
    wanted_type, _, wanted_status = rest.partition("=")
    if what != "condition" or not wanted_type:
        raise validation_failed("--for", "use --for=condition=TYPE[=True|False]")
    want = wanted_status or "True"
    paths, _ = context(state_dir, desired_dir)
    deadline = time.monotonic() + duration(timeout, "--timeout")
    store = Store.open_for_reading(paths.database)
    try:
        while True:
            rec = find_layout(World.load(store, True), name)
            if rec.state == State.REMOVED:
                raise _deleted(rec)
            found = next((c for c in rec.conditions if c["type"] == wanted_type), None)
            if found is not None and found["status"] == want and rec.observed_generation >= rec.generation:
                if output == "json":
                    emit({"layout": rec.name, "condition": found}, output)
                else:
                    click.echo(f"layout/{rec.name} condition met")
                return
            if time.monotonic() >= deadline:
                click.echo(f"error: timed out waiting for the condition on layout/{rec.name}", err=True)
                raise Exit(1)
            time.sleep(0.1)
    finally:
        store.close()


def _deleted(rec: Any) -> Exception:
    """A deleted layout meets no condition any more, like a deleted object under `kubectl
    wait`: fail at once (the record is kept for history, the layout is gone)."""
    from agenttower.model.errors import AgentTowerError, ErrorCode
    from agenttower.reconcile.status import removed_message

    return AgentTowerError(ErrorCode.LAYOUT_NOT_FOUND, removed_message(rec), {"layout_id": rec.id})
