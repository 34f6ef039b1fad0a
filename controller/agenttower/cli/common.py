"""What every verb shares: the `-o` option, path options, and one error boundary.

Errors leave with exit 1 and `error: <code>: <message>` on stderr, or as
`{"error": {...}}` on stdout with `-o json`; `internal_error` never carries exception
text (the traceback goes to the log only when AGENTTOWER_DEBUG is set); a storage fault
is an `internal_error` whose message says which file and what to do.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUTS = ("table", "wide", "json", "yaml", "name")


class Exit(Exception):
    """A verb's chosen exit code after it printed its own result."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def output_option(default: str = "table", choices: tuple[str, ...] = OUTPUTS) -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def path_options(func: F) -> F:
    func = click.option(
        "--desired-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Desired manifests dir [env AGENTTOWER_DESIRED_DIR].",
    )(func)
    func = click.option(
        "--state-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="State dir [env AGENTTOWER_STATE_DIR].",
    )(func)
    return func


def fail(error: Any, output: str, exit_code: int = 1) -> NoReturn:
    """`error: CODE: file:line: message`, one line per error (a directory's files may
    each be wrong); `-o json` adds `errors` with all of them when there are several."""
    wires = [e.to_wire() for e in error.every()]
    if output == "json":
        extra = {"errors": wires} if len(wires) > 1 else {}
        click.echo(json.dumps({"error": wires[0], **extra}, indent=2))
    else:
        for wire in wires:
            click.echo(f"error: {wire['code']}: {wire['message']}", err=True)
    sys.exit(exit_code)


def verb(error_exit: int = 1) -> Callable[[F], F]:
    """Wrap a verb: closed-set errors out, internal errors without their text."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from agenttower.model.errors import AgentTowerError, ErrorCode

            output = str(kwargs.get("output", "table"))
            try:
                return func(*args, **kwargs)
            except Exit as done:
                sys.exit(done.code)
            except AgentTowerError as exc:
                fail(exc, output, error_exit)
            except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
                raise
            except BrokenPipeError:  # `agenttower get panes | head`: the reader left
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(0)
            except Exception as exc:
                if os.environ.get("AGENTTOWER_DEBUG"):
                    traceback.print_exc()
                storage = storage_error(exc, kwargs.get("state_dir"))
                if storage is not None:
                    fail(storage, output, error_exit)
                fail(
                    AgentTowerError(
                        ErrorCode.INTERNAL_ERROR, "internal error (set AGENTTOWER_DEBUG=1 for details)"
                    ),
                    output,
                    error_exit,
                )

        return wrapper  # type: ignore[return-value]

    return decorate


def storage_error(exc: Exception, state_dir: object) -> Any:
    """A full disk, a read-only dir, a locked or corrupt database: said as such (still
    `internal_error`, with {path, reason}); None for any other failure."""
    import sqlite3

    if not isinstance(exc, sqlite3.Error | OSError):
        return None
    from agenttower.paths import Paths
    from agenttower.store.faults import translate

    paths = Paths.resolve(state_dir if isinstance(state_dir, Path) else None)
    return translate(exc, paths.database, paths.audit_file)


def emit(data: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    elif output == "yaml":
        import yaml

        plain = json.loads(json.dumps(data))  # enums (a record's state) as the strings JSON shows
        click.echo(yaml.safe_dump(plain, sort_keys=False).rstrip())
    else:
        raise ValueError(output)
