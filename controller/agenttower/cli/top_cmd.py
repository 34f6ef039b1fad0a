"""`agenttower top`: the live dashboard of every layout and pane (cli/top_app.py).

textual is imported here, inside the verb, so no other verb pays for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import path_options, verb


@click.command("top", short_help="A live dashboard of every layout and pane.")
@click.option(
    "--interval", default="500ms", show_default=True, help="How often the state store is read again."
)
@path_options
@verb()
def top_command(interval: str, state_dir: Path | None, desired_dir: Path | None) -> None:
    """A live dashboard of layouts and panes (state, activity, age, restarts, last event),
    read from the state store; Enter attaches, r restarts, s sends text, / filters, q quits.

    \b
    Examples:
      agenttower top
      agenttower top --interval 2s
    """
    from agenttower.model.durations import parse_duration
    from agenttower.model.errors import validation_failed
    from agenttower.paths import Paths
    from agenttower.settings import Settings

    try:
        seconds = parse_duration(interval)
    except ValueError as exc:
        raise validation_failed("--interval", str(exc)) from None
    if seconds <= 0:
        raise validation_failed("--interval", "must be more than 0s")
    if not (sys.stdin.isatty() and sys.stderr.isatty()):  # textual draws on stderr
        raise validation_failed("terminal", "top needs a terminal (stdin and stderr are not a TTY)")
    from .top_app import Top

    Top(Paths.resolve(state_dir, desired_dir), Settings.from_env(), seconds).run(mouse=False)
