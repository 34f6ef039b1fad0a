"""The verbs are imported by name when they run: every name resolves to its command,
and running one verb does not import the others' modules."""

from __future__ import annotations

import ast
import subprocess
import sys

import click

from agenttower.cli.main import VERBS, cli


def test_every_verb_resolves_to_the_command_of_that_name() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(VERBS)
    for name in VERBS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
    assert cli.get_command(ctx, "nosuch") is None


def test_one_verb_imports_only_its_own_module() -> None:
    code = (
        "import sys, click\n"
        "from agenttower.cli.main import cli\n"
        "cli.get_command(click.Context(cli), 'apply')\n"
        "print(sorted(m for m in sys.modules if m.startswith('agenttower.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(ast.literal_eval(out))
    assert "agenttower.cli.apply_cmd" in loaded
    assert not loaded & {"agenttower.cli.doctor_cmd", "agenttower.cli.logs_cmd", "agenttower.cli.get_cmd"}


def test_rich_and_pyte_are_imported_only_by_what_shows_progress_or_renders_a_log() -> None:
    code = (
        "import sys, pathlib\n"
        "from agenttower.cli import apply_cmd, logs_cmd, progress\n"
        "with progress.shown(pathlib.Path('/nonexistent'), 'apply', ['x'], enabled=False):\n"
        "    pass\n"
        "before = sorted(m for m in ('rich', 'pyte') if m in sys.modules)\n"
        "from agenttower.cli import log_render\n"
        "print(before, 'pyte' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "True"]


def test_what_a_verb_leaves_alive_is_frozen_before_teardown() -> None:
    """Python's teardown then has next to nothing left to collect (cli/main.py)."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), len(gc.get_objects())))\n"
        "sys.argv = ['agenttower', 'schema', '--help']\n"
        "from agenttower.cli.main import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    frozen, tracked = map(int, proc.stdout.split()[-2:])
    assert frozen > 10_000 and tracked < 100, (frozen, tracked)
