"""The flat YAML override dirs of the original design (snake_case keys).

`managed_templates/*.yaml` and `launch_commands/*.yaml` under the config dir still
work. A malformed file is skipped with a warning, never fatal, and the dirs are never
created by agenttower (FEAT-013 FR-024).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .errors import AgentTowerError
from .resources import LaunchProfileSpec, TemplateSpec
from .yamlload import load_documents

T = TypeVar("T")


@dataclass(frozen=True)
class LegacyCatalog:
    templates: dict[str, TemplateSpec] = field(default_factory=dict)
    profiles: dict[str, LaunchProfileSpec] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def load_legacy(templates_dir: Path | None, profiles_dir: Path | None) -> LegacyCatalog:
    warnings: list[str] = []
    templates = _load_dir(templates_dir, _template, warnings)
    profiles = _load_dir(profiles_dir, _profile, warnings)
    return LegacyCatalog(templates, profiles, tuple(warnings))


def _template(data: dict[str, Any]) -> TemplateSpec:
    panes = [
        {
            "role": p.get("role"),
            "capability": p.get("capability"),
            "labelPattern": p.get("label_pattern"),
            **({"launch": p["default_launch_command_ref"]} if p.get("default_launch_command_ref") else {}),
        }
        for p in data.get("panes") or []
        if isinstance(p, dict)
    ]
    return TemplateSpec.model_validate({"panes": panes})


def _profile(data: dict[str, Any]) -> LaunchProfileSpec:
    body: dict[str, Any] = {"command": data.get("command"), "env": data.get("env") or {}}
    if data.get("working_dir") is not None:
        body["workingDir"] = data["working_dir"]
    return LaunchProfileSpec.model_validate(body)


def _load_dir(
    directory: Path | None, build: Callable[[dict[str, Any]], T], warnings: list[str]
) -> dict[str, T]:
    found: dict[str, T] = {}
    if directory is None or not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.y*ml")):
        try:
            docs = load_documents(path.read_text(encoding="utf-8"), str(path))
            for doc in docs:
                data = doc.data
                if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                    raise ValueError("expected a mapping with a string `name`")
                found[data["name"]] = build(data)
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, AgentTowerError) as exc:
            reason = exc.located_message() if isinstance(exc, AgentTowerError) else str(exc)
            warnings.append(f"skipped malformed override {path}: {reason.splitlines()[0]}")
    return found
