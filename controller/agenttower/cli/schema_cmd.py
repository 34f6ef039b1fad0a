"""`schema`: the JSON Schemas and CRDs generated from the manifest models.

`--write crds/` regenerates the checked-in files (a test fails when they drift); without
it the union schema goes to stdout, for an editor or a validator that wants it piped.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit, output_option, verb


@click.command("schema")
@click.option(
    "--write",
    "write_dir",
    type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write every JSON Schema and CRD into DIR (created if missing), e.g. crds/.",
)
@output_option(default="json", choices=("json", "yaml"))
@verb()
def schema_command(write_dir: Path | None, output: str) -> None:
    """Print the manifest JSON Schema, or write all schemas and CRDs into a directory.

    \b
    Examples:
      agenttower schema > agenttower.schema.json
      agenttower schema --write crds/
    """
    import json

    from agenttower.model.schema import UNION_FILE, render_all

    files = render_all()
    if write_dir is None:
        if output == "json":
            click.echo(files[UNION_FILE], nl=False)
        else:
            emit(json.loads(files[UNION_FILE]), output)
        return
    write_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = write_dir / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            click.echo(f"unchanged {path}")
            continue
        path.write_text(text, encoding="utf-8", newline="\n")
        click.echo(f"wrote {path}")
