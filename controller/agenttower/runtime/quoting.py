"""Quoting for tmux's command language, written by hand because no library does it.

Batches go to `tmux source-file -`, so every argument is single-quoted for tmux's
parser (a `'` becomes `\\'` outside the quotes, a newline `"\\n"`), and arguments tmux
expands as formats (`-c`, `-T`, `-s`, `pipe-pane`) get `#` doubled; `pipe-pane` also
runs strftime and a shell, so its path is shell-quoted and `%` doubled too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

_SPLIT = re.compile(r"(['\n])")


def quote(arg: str) -> str:
    parts: list[str] = []
    for chunk in _SPLIT.split(arg):
        if chunk == "'":
            parts.append("\\'")
        elif chunk == "\n":
            parts.append('"\\n"')
        elif chunk:
            parts.append(f"'{chunk}'")
    return "".join(parts) or "''"


def command_line(*commands: Sequence[str]) -> str:
    """One batch line: tmux commands joined by ` ; ` so they share the implicit target."""
    return " ; ".join(" ".join(quote(a) if i else a for i, a in enumerate(cmd)) for cmd in commands)


def format_literal(text: str) -> str:
    """`text` as a literal where tmux expands formats."""
    return text.replace("#", "##")


SIZE_FIELD = "\x01SIZE\x01"  # where the pane's size goes in a header (no JSON text holds \x01)
PANE_SIZE = "#{pane_width}x#{pane_height}"  # tmux expands it when the pipe starts


def pipe_to_file(path: str, make_dir: bool = False, header: str | None = None) -> str:
    """The `pipe-pane` shell command appending a pane's output to `path`; with `make_dir`
    it first creates the file's directory (inside a container, as the container's user,
    where the host could not create it with the right owner). A `header` line is
    appended first, by the pipe itself, so it lands before this run's first byte on
    host and container targets alike; its SIZE_FIELD becomes the pane's size. A path
    starting `~/` is below the home of the user the tmux server runs as (an ssh host's
    login)."""
    target = _shell_path(path)
    command = f"exec cat >> {target}"
    if header is not None:
        command = f"printf '\\n%s\\n' {shlex.quote(header)} >> {target} && {command}"
    if make_dir:
        directory = path.rsplit("/", 1)[0] or "/"
        command = f"mkdir -p {_shell_path(directory)} && {command}"
    return format_literal(command).replace("%", "%%").replace(SIZE_FIELD, PANE_SIZE)


def _shell_path(path: str) -> str:
    """`path` for the shell, `~/` as `"$HOME"/` (a quoted `~` is not expanded)."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)
