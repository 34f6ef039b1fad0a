"""`import tmuxp FILE`: a tmuxp workspace as agenttower manifests on stdout, for `apply -f -`
or a file; the mapping itself is model/tmuxp.py (pure), this verb only reads and prints."""

from __future__ import annotations

from pathlib import Path

import click

from .common import output_option, verb

FORMATS = ("tmuxp",)


def render(manifests: list[dict[str, object]], output: str) -> str:
    """Multi-document YAML (the `apply -f` input), or one JSON list."""
    import json

    import yaml

    if output == "json":
        return json.dumps(manifests, indent=2)
    return yaml.safe_dump_all(manifests, sort_keys=False, allow_unicode=True, width=1000).rstrip()


@click.command("import")
@click.argument("source_format", metavar="FORMAT", type=click.Choice(FORMATS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_option(default="yaml", choices=("yaml", "json"))
@verb()
def import_command(source_format: str, file: Path, output: str) -> None:
    """Turn a tmuxp workspace (YAML or JSON) into manifests on stdout, ready for `apply -f`.

    Each pane keeps its shell and gets its commands typed once (initialInput); a window
    becomes a Layout of its own. A field agenttower cannot honour is an error naming it.

    \b
    Examples:
      agenttower import tmuxp ~/.tmuxp/dev.yaml > dev.yaml && agenttower apply -f dev.yaml
      agenttower import tmuxp workspace.json -o json
    """
    from agenttower.model.manifests import parse_text
    from agenttower.model.tmuxp import convert
    from agenttower.model.yamlload import decode, load_documents

    imported = convert(load_documents(decode(file.read_bytes(), str(file)), str(file)), file)
    for warning in imported.warnings:
        click.echo(f"warning: {warning}", err=True)
    text = render(list(imported.manifests), "yaml")
    parse_text(text + "\n", f"<import of {file}>")  # what we print is valid for `apply -f`
    click.echo(render(list(imported.manifests), output))
