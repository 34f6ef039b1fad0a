"""`completion bash|zsh|fish`: the shell script that completes verbs, kinds and names.

click's own shell completion: the script calls `agenttower` back with
`_AGENTTOWER_COMPLETE` set, and the verbs' completers (cli/complete.py) read names from
the state store and the desired dir.
"""

from __future__ import annotations

import click

from .common import verb

COMPLETE_VAR = "_AGENTTOWER_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
@verb()
def completion_command(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish (verbs, kinds, names).

    \b
    Examples:
      source <(agenttower completion bash)                  # this shell
      agenttower completion bash > ~/.local/share/bash-completion/completions/agenttower
      agenttower completion zsh > "${fpath[1]}/_agenttower"
      agenttower completion fish > ~/.config/fish/completions/agenttower.fish
    """
    from click.shell_completion import get_completion_class

    from .main import cli

    cls = get_completion_class(shell)
    assert cls is not None, shell
    click.echo(cls(cli, {}, "agenttower", COMPLETE_VAR).source())
