"""The `agenttower` entry point: the click group and its verbs."""

from __future__ import annotations

import click

from agenttower import __version__

from .apply_cmd import apply_command, delete_command, diff_command
from .controller_cmd import controller_group, wait_command
from .doctor_cmd import doctor_command
from .get_cmd import describe_command, get_command
from .lifecycle_cmd import (
    adopt_command,
    events_command,
    promote_command,
    recreate_command,
    remove_command,
    restart_command,
    scan_command,
)
from .logs_cmd import logs_command
from .schema_cmd import schema_command
from .send_cmd import send_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agenttower")
def cli() -> None:
    """Keep multi-agent tmux layouts alive: declare them as YAML, agenttower converges tmux."""


for command in (
    apply_command,
    diff_command,
    delete_command,
    get_command,
    describe_command,
    schema_command,
    controller_group,
    wait_command,
    remove_command,
    recreate_command,
    restart_command,
    scan_command,
    adopt_command,
    promote_command,
    events_command,
    logs_command,
    send_command,
    doctor_command,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="agenttower")
