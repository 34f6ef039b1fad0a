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
from .identifiers import is_catalog_name
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


_TEMPLATE_KEYS = {"name", "panes"}
_PANE_KEYS = {"role", "capability", "label_pattern", "default_launch_command_ref"}
_PROFILE_KEYS = {"name", "command", "env", "working_dir"}


def _only(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def _template(data: dict[str, Any]) -> TemplateSpec:
    _only(data, _TEMPLATE_KEYS, "template")
    panes = []
    for index, pane in enumerate(data.get("panes") or []):
        if not isinstance(pane, dict):
            raise ValueError(f"panes.{index}: expected a mapping")
        _only(pane, _PANE_KEYS, f"panes.{index}")
        body = {
            "role": pane.get("role"),
            "capability": pane.get("capability"),
            "labelPattern": pane.get("label_pattern"),
        }
        if pane.get("default_launch_command_ref"):
            body["launch"] = pane["default_launch_command_ref"]
        panes.append(body)
    return TemplateSpec.model_validate({"panes": panes})


def _profile(data: dict[str, Any]) -> LaunchProfileSpec:
    _only(data, _PROFILE_KEYS, "launch command")
    body: dict[str, Any] = {"command": data.get("command"), "env": data.get("env") or {}}
    if data.get("working_dir") is not None:
        body["workingDir"] = data["working_dir"]
    return LaunchProfileSpec.model_validate(body)


def _reason(exc: Exception) -> str:
    if isinstance(exc, AgentTowerError):
        return exc.located_message()
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]


def _load_dir(
    directory: Path | None, build: Callable[[dict[str, Any]], T], warnings: list[str]
) -> dict[str, T]:
    """A file loads whole or not at all; a bad one is skipped with a warning saying why."""
    found: dict[str, T] = {}
    if directory is None or not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.y*ml")):
        from_file: dict[str, T] = {}
        try:
            for doc in load_documents(path.read_text(encoding="utf-8"), str(path)):
                data = doc.data
                name = data.get("name") if isinstance(data, dict) else None
                if not isinstance(name, str) or not is_catalog_name(name):
                    raise ValueError(f"line {doc.start_line}: expected a mapping with a valid `name`")
                from_file[name] = build(data)
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, AgentTowerError) as exc:
            warnings.append(f"skipped malformed override {path}: {_reason(exc)}")
            continue
        found.update(from_file)
    return found
