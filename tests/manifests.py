"""Small builders for test manifests, so each test states only what it is about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

API = "agenttower.dev/v1alpha1"


def layout(name: str, template: str | None = "1m+2s", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"template": template} if template else {}
    body.update(spec)
    return {"apiVersion": API, "kind": "Layout", "metadata": {"name": name}, "spec": body}


def profile(name: str, command: list[str] | str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "LaunchProfile",
        "metadata": {"name": name},
        "spec": {"command": command, **spec},
    }


def template(name: str, panes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Template", "metadata": {"name": name}, "spec": {"panes": panes}}


def pane(role: str, pattern: str, launch: str | None = None, capability: str = "worker") -> dict[str, Any]:
    body = {"role": role, "capability": capability, "labelPattern": pattern}
    if launch:
        body["launch"] = launch
    return body


SLEEP = ["sh", "-c", "exec sleep 600"]


def write(path: Path, *docs: dict[str, Any]) -> Path:
    """JSON is YAML: one document per object, `---` between them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(json.dumps(d, indent=1) + "\n" for d in docs))
    return path
