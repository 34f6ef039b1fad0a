"""`explain KIND[.field.path]`: a manifest field's type, allowed values and description,
read from the same pydantic models that validate manifests (model/schema.py)."""

from __future__ import annotations

from typing import Any

import click

from .common import emit, output_option, verb


@click.command("explain")
@click.argument("path")
@output_option(default="table", choices=("table", "json", "yaml"))
@verb()
def explain_command(path: str, output: str) -> None:
    """Describe a manifest field (type, allowed values, sub-fields), as kubectl explain does.

    \b
    Examples:
      agenttower explain Layout
      agenttower explain Layout.spec.target
      agenttower explain layout.spec.restartPolicy
      agenttower explain LaunchProfile.spec.readiness -o json
    """
    from agenttower.model.schema import explain

    data = explain(path)
    if output == "table":
        click.echo(_render(data))
    else:
        emit(data, output)


def _render(data: dict[str, Any]) -> str:
    lines = [f"KIND:     {data['kind']}", f"FIELD:    {data['path']} <{data['type']}>"]
    if data.get("enum"):
        lines.append(f"VALUES:   {', '.join(map(str, data['enum']))}")
    if data.get("default") is not None:
        lines.append(f"DEFAULT:  {data['default']}")
    lines.extend(["", "DESCRIPTION:", f"  {data.get('description') or '(none)'}"])
    if data["fields"]:
        lines.extend(["", "FIELDS:"])
        for f in data["fields"]:
            required = " (required)" if f["required"] else ""
            lines.append(f"  {f['name']}  <{f['type']}>{required}")
            if f["description"]:
                lines.append(f"    {f['description']}")
    return "\n".join(lines)
