"""Write docs/cli-reference.md from the click commands: every verb of the VERBS map
(sub-commands of groups included), its whole `--help` at a fixed width.

    python docs/gen_cli_reference.py          # rewrite docs/cli-reference.md
    python docs/gen_cli_reference.py --check  # exit 1 when the file is out of date

tests/unit/test_cli_reference.py fails when the committed file drifts from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agenttower.cli.main import VERBS, cli, summary

OUT = Path(__file__).with_name("cli-reference.md")
WIDTH = 100
HELP = dict(cli.context_settings)  # -h as well as --help, as the real entry point has


def _help(command: click.Command, path: str, parent: click.Context | None = None) -> str:
    ctx = click.Context(
        command, info_name=path, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH, **HELP
    )
    return command.get_help(ctx)


def render() -> str:
    root = click.Context(cli, info_name="agenttower", terminal_width=WIDTH, max_content_width=WIDTH, **HELP)
    parts = [
        "# CLI reference",
        "",
        "Generated from the click commands by `python docs/gen_cli_reference.py`; do not edit.",
        "[cli.md](cli.md) explains what each verb does and why.",
        "",
        "```",
        cli.get_help(root),
        "```",
    ]
    for name in sorted(VERBS):
        command = cli.get_command(root, name)
        assert command is not None
        commands: list[tuple[str, click.Command]] = [(name, command)]
        if isinstance(command, click.Group):
            commands += [(f"{name} {sub}", c) for sub, c in sorted(command.commands.items())]
        for title, cmd in commands:
            parts += ["", f"## {title}", "", summary(cmd), "", "```", _help(cmd, title, root), "```"]
    return "\n".join(parts) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python docs/gen_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
