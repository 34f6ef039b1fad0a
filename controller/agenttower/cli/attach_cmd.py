"""`attach` (this terminal becomes a tmux client on a pane or a layout) and `screen`
(what a pane shows now, as text): the two ways to look at an agent."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from . import complete
from .common import emit, output_option, path_options, verb

LAYOUT_WORDS = ("layout", "layouts", "lo")


def _complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`attach <TAB>`: the panes, or `layout`; `attach layout <TAB>`: the layouts."""
    given = ctx.params.get("args") or ()
    if given:
        return complete.layout(ctx, param, incomplete) if given[-1] in LAYOUT_WORDS else []
    word = [CompletionItem("layout")] if "layout".startswith(incomplete) else []
    return word + complete.pane(ctx, param, incomplete)


def _located(args: tuple[str, ...], action: str, running: bool, state_dir: Path | None) -> Any:
    """`PANE` or `layout NAME`, found and checked on its target."""
    from agenttower.model.errors import validation_failed
    from agenttower.paths import Paths
    from agenttower.settings import Settings

    from . import locate
    from .refs import split, strip

    if args and args[0].startswith(("layout/", "layouts/", "lo/")):  # as `get -o name` prints it
        _, names = split(args[0], ())
        args = ("layout", *names, *args[1:])
    elif args:
        args = (strip("panes", args[0]), *args[1:])  # `pane/team/s1` is `team/s1`
    paths, settings = Paths.resolve(state_dir), Settings.from_env()
    if args and args[0] in LAYOUT_WORDS:
        if len(args) != 2:
            raise validation_failed("args", f"usage: agenttower {action} layout NAME")
        return locate.layout(paths, settings, args[1], action)
    if len(args) != 1:
        raise validation_failed("args", f"usage: agenttower {action} LAYOUT/LABEL | {action} layout NAME")
    return locate.pane(paths, settings, args[0], action, running)


def exec_client(client: Any) -> None:
    """Replace this process with the tmux client, so the terminal is tmux's alone (its
    signals, its size, its exit status); returns only if the exec failed."""
    from agenttower.model.errors import AgentTowerError, ErrorCode

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(client.argv[0], list(client.argv), dict(client.env))
    except OSError as exc:
        raise AgentTowerError(
            ErrorCode.INTERNAL_ERROR, f"cannot run {client.argv[0]}: {exc.strerror}"
        ) from None


@click.command("attach", short_help="Attach this terminal to a pane or a layout's tmux session.")
@click.argument("args", nargs=-1, required=True, shell_complete=_complete_target)
@click.option("--dry-run", is_flag=True, help="Print the tmux command instead of running it.")
@path_options
@verb()
def attach_command(
    args: tuple[str, ...], dry_run: bool, state_dir: Path | None, desired_dir: Path | None
) -> None:
    """Attach this terminal to a pane (`attach LAYOUT/LABEL`) or a layout's session
    (`attach layout NAME`); inside tmux, switch this client to it instead.

    \b
    Examples:
      agenttower attach team/m1
      agenttower attach layout team
      agenttower attach team/m1 --dry-run   # print the tmux command
    """
    from agenttower.model.errors import validation_failed
    from agenttower.runtime.attach import client

    located = _located(args, "attach", True, state_dir)
    chosen = client(located.tmux.target, located.where)
    if dry_run:
        click.echo(shlex.join(chosen.argv))
        return
    if not chosen.switch and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise validation_failed("terminal", "attach needs a terminal (stdin and stdout are not a TTY)")
    exec_client(chosen)


@click.command("screen", short_help="Print what a pane shows now, as text.")
@click.argument("pane", shell_complete=complete.pane)
@output_option(default="text", choices=("text", "json", "yaml"))
@path_options
@verb()
def screen_command(pane: str, output: str, state_dir: Path | None, desired_dir: Path | None) -> None:
    """Print what a pane shows now (its visible screen, as text), LAYOUT/LABEL or a pane id.

    \b
    Examples:
      agenttower screen team/m1
      agenttower screen team/m1 -o json
    """
    from agenttower.runtime.screen import capture

    located = _located((pane,), "screen", False, state_dir)
    screens = capture(located.tmux, [located.where])
    if located.where not in screens:  # gone between the listing and the capture
        from .locate import refuse

        raise refuse(located.name, located.pane, "has no tmux pane on its target", "screen")
    text = screens[located.where]
    if output == "text":
        click.echo(text)
        return
    emit(
        {
            "kind": "Screen",
            "pane": located.name,
            "id": located.pane.id,
            "tmuxPaneId": located.where,
            "target": located.layout.target_key,
            "dead": located.dead,
            "lines": text.split("\n"),
        },
        output,
    )
