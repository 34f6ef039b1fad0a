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


def pipe_to_file(path: str, make_dir: bool = False) -> str:
    """The `pipe-pane` shell command appending a pane's output to `path`; with `make_dir`
    it first creates the file's directory (inside a container, as the container's user,
    where the host could not create it with the right owner)."""
    command = f"exec cat >> {shlex.quote(path)}"
    if make_dir:
        directory = path.rsplit("/", 1)[0] or "/"
        command = f"mkdir -p {shlex.quote(directory)} && {command}"
    return format_literal(command).replace("%", "%%")
