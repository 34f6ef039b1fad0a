"""Write docs/manifest-reference.md from the pydantic models that validate manifests:
every field of Layout, Template and LaunchProfile with its type, whether it is
required, its allowed values, default and description (the same schema `explain`
and the CRDs read: model/schema.py).

    python docs/gen_manifest_reference.py          # rewrite docs/manifest-reference.md
    python docs/gen_manifest_reference.py --check  # exit 1 when the file is out of date

tests/unit/test_docs.py fails when the committed file drifts from the models.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agenttower.model import resources
from agenttower.model.schema import explain

OUT = Path(__file__).with_name("manifest-reference.md")
KINDS = ("Layout", "Template", "LaunchProfile")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _top(kind: str) -> list[str]:
    """What agenttower requires at the top (the CRDs leave apiVersion and kind to Kubernetes)."""
    model = getattr(resources, kind)
    return list(model.model_json_schema(by_alias=True).get("required", []))


def _rows(path: str, depth: int = 0) -> Iterator[str]:
    """Depth first, so a field's sub-fields follow it (a kubectl explain --recursive)."""
    node: dict[str, Any] = explain(path)
    for field in node["fields"]:
        child = f"{path}.{field['name']}"
        sub: dict[str, Any] = explain(child)
        values = ", ".join(f"`{v}`" for v in sub["enum"] or ())
        default = "" if sub["default"] is None else f"`{sub['default']}`"
        name = child.split(".", 1)[1]
        required = "yes" if field["required"] or (depth == 0 and field["name"] in _top(path)) else ""
        description = _cell(field["description"] or "")
        yield f"| `{name}` | {_cell(sub['type'])} | {required} | {values} | {default} | {description} |"
        if sub["fields"] and depth < 6:
            yield from _rows(child, depth + 1)


def render() -> str:
    parts = [
        "# Manifest reference",
        "",
        "Generated from the models by `python docs/gen_manifest_reference.py`; do not edit.",
        "[manifests.md](manifests.md) explains the fields and why; `agenttower explain",
        "KIND.field.path` shows one of them in the terminal.",
    ]
    for kind in KINDS:
        top = explain(kind)
        parts += ["", f"## {kind}", "", _cell(top["description"] or ""), ""]
        parts += ["| field | type | required | values | default | description |", "|---|---|---|---|---|---|"]
        parts += list(_rows(kind))
    return "\n".join(parts) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python docs/gen_manifest_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
