"""Turning YAML documents into validated resources, with errors that point at file:line.

A manifest directory is scanned recursively for `*.yaml`/`*.yml`, skipping dot-files,
dot-dirs and editor temp files, so a git checkout or an editor's swap files are safe.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import AgentTowerError, SourceLocation, excerpt, raise_all, validation_failed
from .hints import did_you_mean, literal_values, model_at
from .identifiers import env_key_part
from .redaction import is_secret
from .resources import API_VERSION, KINDS, LaunchProfile, Layout, Template
from .yamlload import Document, decode, load_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Manifest:
    kind: str
    name: str
    resource: Layout | Template | LaunchProfile
    document: Document

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def where(self, *path: str | int) -> SourceLocation:
        return self.document.where(tuple(path))


def is_manifest_name(name: str) -> bool:
    """Editor temp files (`.x.swp`, `x~`, `.#x`, `#x#`) and dot-files are never manifests."""
    if name.startswith((".", "#")) or name.endswith("~"):
        return False
    return name.endswith(MANIFEST_SUFFIXES)


def manifest_files(root: FsPath) -> list[FsPath]:
    """Every manifest below `root`, sorted, following symlinks but never looping."""
    if root.is_file():
        return [root]
    found: list[FsPath] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(FsPath(dirpath) / f for f in filenames if is_manifest_name(f))
    return sorted(found)


def parse_text(text: str, file: str) -> list[Manifest]:
    return list(_parsed(text, file))


@functools.lru_cache(maxsize=64)
def _parsed(text: str, file: str) -> tuple[Manifest, ...]:
    """One parse per (text, file) in a process: `apply` checks a file when it reads it,
    validates it with the desired dir, then loads it again for its pass (3 parses of the
    same text). Manifests are frozen (nothing writes to a document's data), and an
    error is not cached, so every call raises it anew."""
    manifests: list[Manifest] = []
    errors: list[AgentTowerError] = []
    for doc in load_documents(text, file):
        try:
            manifests.append(_validate(doc))
        except AgentTowerError as exc:  # every broken document of the file, not only the first
            errors.append(exc)
    raise_all(errors)
    return tuple(manifests)


def parse_bytes(data: bytes, file: str) -> list[Manifest]:
    return parse_text(decode(data, file), file)


def parse_file(path: FsPath, display: str | None = None) -> list[Manifest]:
    name = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise validation_failed("file", f"cannot read: {exc.strerror}", SourceLocation(name)) from None
    return parse_bytes(data, name)


def check_unique(manifests: Iterable[Manifest]) -> None:
    """One object (kind + name) defined twice is an error naming both places."""
    first: dict[tuple[str, str], Manifest] = {}
    for manifest in manifests:
        earlier = first.setdefault(manifest.key, manifest)
        if earlier is not manifest:
            raise validation_failed(
                "metadata.name",
                f"{manifest.kind} {manifest.name!r} is defined twice: "
                f"{earlier.where('metadata', 'name')} and {manifest.where('metadata', 'name')}",
                manifest.where("metadata", "name"),
            )


def _validate(doc: Document) -> Manifest:
    data = doc.data
    if not isinstance(data, dict):
        raise validation_failed("document", "a manifest must be a mapping", doc.where())
    kind = data.get("kind")
    if data.get("apiVersion") != API_VERSION:
        raise validation_failed("apiVersion", f"must be {API_VERSION!r}", doc.where(("apiVersion",)))
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None or not isinstance(kind, str):
        raise validation_failed(
            "kind", f"must be one of {', '.join(KINDS)} (got {excerpt(kind)})", doc.where(("kind",))
        )
    try:
        resource = model.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(exc, doc, model) from None
    return Manifest(kind=kind, name=resource.metadata.name, resource=resource, document=doc)


def _from_pydantic(exc: ValidationError, doc: Document, model: type[BaseModel]) -> AgentTowerError:
    errors: list[Any] = list(exc.errors())
    # an unknown key first: a misspelt key also makes the key it meant "missing"
    error: Any = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "[key]")))
    field = ".".join(_shown(loc, i) for i in range(len(loc))) or "document"
    reason = str(error["msg"]).removeprefix("Value error, ")
    secret = len(loc) >= 2 and loc[-2] == "env" and is_secret(str(loc[-1]))
    if error["type"] == "extra_forbidden":
        reason = did_you_mean(model, loc)
    elif error["type"] == "literal_error":
        allowed = ", ".join(repr(v) for v in _literal_values(model, loc)) or error["ctx"]["expected"]
        reason = f"must be one of {allowed} (got {excerpt(error.get('input'))})"
    elif error["type"] == "string_type" and isinstance(error.get("input"), (int, float, bool)):
        hidden = "a boolean" if isinstance(error["input"], bool) else "a number"
        got = hidden if secret else excerpt(error["input"])
        reason = f"must be a string (got {got}; quote it)"
    elif error["type"] == "list_type" and isinstance(error.get("input"), str):
        reason = "must be a list of arguments (argv), not a shell string"
    return validation_failed(field, reason, doc.where(loc))


def _shown(loc: tuple[Any, ...], index: int) -> str:
    """One part of a field path as an error shows it: env keys may hold a secret."""
    part = str(loc[index])
    if index > 0 and loc[index - 1] == "env":
        return env_key_part(part)
    return part


def _literal_values(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    parent = model_at(model, [p for p in loc[:-1]])
    if parent is None or not isinstance(loc[-1], str):
        return []
    info = next((f for n, f in parent.model_fields.items() if loc[-1] in (n, f.alias)), None)
    return literal_values(info.annotation) if info is not None else []
