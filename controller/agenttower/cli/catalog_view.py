"""What the desired dir declares beside records: Templates and LaunchProfiles as `get`
lists them (built-ins marked), and the labels of each Layout for `-l`.

Read leniently (a broken file does not hide the rest) and never written: the desired
dir is the source of these, the store holds none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenttower.model.builtins import BUILTIN_PROFILES, BUILTIN_TEMPLATES, SHELL_PROFILE
from agenttower.model.constants import API_VERSION
from agenttower.model.desired import Desired
from agenttower.model.resources import Layout
from agenttower.paths import Paths

BUILT_IN = "built-in"
LEGACY = "legacy dir"


@dataclass(frozen=True)
class Declared:
    desired: Desired
    sources: dict[tuple[str, str], str]  # (kind, name) -> file:line of its manifest
    legacy: tuple[set[str], set[str]]  # template names, profile names from the legacy dirs

    @classmethod
    def load(cls, paths: Paths) -> Declared:
        from agenttower.reconcile import desired_dir, engine

        legacy = engine.legacy_catalog(paths)
        desired, _ = desired_dir.load_lenient(paths.desired_dir, legacy, desired_dir.DirCache())
        sources = {m.key: str(m.where("metadata", "name")) for m in desired.manifests}
        return cls(desired, sources, (set(legacy.templates), set(legacy.profiles)))

    def labels(self) -> dict[str, dict[str, str]]:
        """layout name -> its metadata.labels (only layouts whose manifest is in the dir)."""
        return {
            m.name: dict(m.resource.metadata.labels)
            for m in self.desired.manifests
            if isinstance(m.resource, Layout)
        }

    def _source(self, kind: str, name: str, legacy: set[str]) -> str:
        return self.sources.get((kind, name)) or (LEGACY if name in legacy else BUILT_IN)

    def templates(self) -> list[dict[str, Any]]:
        items = []
        for name, spec in sorted(self.desired.catalog.templates.items()):
            source = self._source("Template", name, self.legacy[0])
            body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            items.append(_item("Template", name, body, source, name in BUILTIN_TEMPLATES))
        return items

    def profiles(self) -> list[dict[str, Any]]:
        items = []
        for name, maybe in sorted(self.desired.catalog.profiles.items()):
            source = self._source("LaunchProfile", name, self.legacy[1])
            body = {} if maybe is None else maybe.model_dump(mode="json", by_alias=True, exclude_none=True)
            builtin = name == SHELL_PROFILE or name in BUILTIN_PROFILES
            items.append(_item("LaunchProfile", name, body, source, builtin))
        return items


def _item(kind: str, name: str, spec: dict[str, Any], source: str, builtin: bool) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
        # builtIn: the name is one agenttower ships; source says whether a manifest replaced it
        "status": {"builtIn": builtin, "source": source},
    }


def template_row(item: dict[str, Any], wide: bool) -> list[Any]:
    panes = item["spec"]["panes"]
    roles = ", ".join(f"{p['role']}:{p['labelPattern']}" for p in panes)
    return [item["metadata"]["name"], len(panes), _builtin(item), item["status"]["source"], roles]


def profile_row(item: dict[str, Any], wide: bool) -> list[Any]:
    spec = item["spec"]
    command = " ".join(spec.get("command", [])) or "(tmux default-shell)"
    return [item["metadata"]["name"], spec.get("agent"), _builtin(item), item["status"]["source"], command]


def _builtin(item: dict[str, Any]) -> str:
    return "yes" if item["status"]["builtIn"] else "no"


TEMPLATE_COLUMNS = ("NAME", "PANES", "BUILTIN", "SOURCE", "SLOTS")
PROFILE_COLUMNS = ("NAME", "AGENT", "BUILTIN", "SOURCE", "COMMAND")
