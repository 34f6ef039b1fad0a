"""`agenttower send`: type a message into a managed agent's pane (or every pane of a layout)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .apply_cmd import context, duration
from .common import Exit, emit, output_option, path_options, verb

NOT_DELIVERED_EXIT = 3  # not confirmed on screen, or (--when idle) never idle before the deadline
IDLE_POLL_S = 0.25
LOOK_S = 10.0  # what one look at the panes may take, whatever is left of --timeout

# How a table line says each outcome (runtime/paste.py). `unconfirmed` text was typed:
# saying "not delivered" there would invite a second send, and the agent would get the
# message twice.
SAID = {
    "confirmed": "{length} characters delivered",
    "unconfirmed": "{length} characters pasted, not confirmed ({reason}): look before sending again",
    "not_pasted": "{length} characters NOT delivered ({reason})",
    "not_idle": "nothing typed, not idle ({reason})",
}


def _text(given: str | None, file: Path | None) -> str:
    from agenttower.model.errors import validation_failed

    if (given is None) == (file is None):
        raise validation_failed("text", "give the text or --file FILE (not both)")
    if file is None:
        assert given is not None
        return given
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise validation_failed("file", f"{file}: {exc}") from None


def _request(args: tuple[str, ...], role: str | None) -> tuple[dict[str, Any], str | None]:
    """`PANE [TEXT]` or `layout NAME [TEXT]`: the request's subject and the text, if given."""
    from agenttower.model.errors import validation_failed

    from .refs import split, strip

    if args and args[0].startswith(("layout/", "layouts/", "lo/")):  # as `get -o name` prints it
        _, names = split(args[0], ())
        args = ("layout", *names, *args[1:])
    elif args:
        args = (strip("panes", args[0]), *args[1:])
    if args and args[0] in ("layout", "layouts"):
        if len(args) not in (2, 3):
            raise validation_failed("args", "usage: agenttower send layout NAME [TEXT] [--role ROLE]")
        return {"layout": args[1], "role": role}, (args[2] if len(args) == 3 else None)
    if role is not None:
        raise validation_failed("role", "--role goes with `send layout NAME`")
    if len(args) not in (1, 2):
        raise validation_failed("args", "usage: agenttower send LAYOUT/LABEL [TEXT]")
    return {"pane": args[0]}, (args[1] if len(args) == 2 else None)


def _until_idle(ask: Callable[[float], dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Ask again while the answer is "not idle yet" (nothing was typed), until the deadline:
    each ask holds the reconciler lock only for its own look, never while waiting. The
    deadline bounds the waiting, not one look: a look cut short by it (its tmux calls
    interrupted on a loaded machine) would end in an error instead of "not idle"."""
    deadline = time.monotonic() + seconds
    asks = 0
    while True:
        result = ask(max(deadline - time.monotonic(), LOOK_S))
        asks += 1
        if not result.get("waiting") or time.monotonic() + IDLE_POLL_S >= deadline:
            return {**result, "asks": asks}
        time.sleep(IDLE_POLL_S)


@click.command("send")
@click.argument("args", nargs=-1, required=True)
@click.option("--file", type=click.Path(path_type=Path), default=None, help="Send this file ('-': stdin).")
@click.option("--no-enter", is_flag=True, help="Paste only: do not press Enter after it.")
@click.option("--role", default=None, help="With `send layout NAME`: only the panes of this role.")
@click.option(
    "--when",
    type=click.Choice(("now", "idle")),
    default="now",
    show_default=True,
    help="idle: wait (until --timeout) for every pane's agent to say it is idle.",
)
@click.option("--timeout", "timeout", default=None, help="Give up after this long (e.g. 30s).")
@output_option(default="table", choices=("table", "json", "yaml"))
@path_options
@verb()
def send_command(
    args: tuple[str, ...],
    file: Path | None,
    no_enter: bool,
    role: str | None,
    when: str,
    timeout: str | None,
    output: str,
    state_dir: Path | None,
    desired_dir: Path | None,
) -> None:
    """Paste TEXT into a pane as one bracketed paste, then press Enter (`send LAYOUT/LABEL TEXT`,
    or `send layout NAME TEXT [--role R]` for every live pane of a layout). Exit 3 when the
    text was pasted but the pane's screen did not change to show it arrived.

    \b
    Examples:
      agenttower send team/s1 'run the tests'
      agenttower send layout team --role slave --file task.md
      agenttower send team/m1 --when idle 'next task'
    """
    from .dispatch import dispatch

    subject, given = _request(args, role)
    text = _text(given, file)
    paths, settings = context(state_dir, desired_dir)
    seconds = duration(timeout, "--timeout") if timeout is not None else settings.verbs.timeout
    request = {"op": "send", **subject, "text": text, "enter": not no_enter, "when": when}
    result = _until_idle(lambda left: dispatch(paths, settings, request, left), seconds)
    if output in ("json", "yaml"):
        emit(result, output)
    else:
        for item in result["results"]:
            said = SAID[item["outcome"]].format(length=item["length"], reason=item["reason"])
            click.echo(f"pane/{item['pane']}: {said}")
    if not result["delivered"]:
        raise Exit(NOT_DELIVERED_EXIT)
