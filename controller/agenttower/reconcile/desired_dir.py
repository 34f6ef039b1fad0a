"""The desired dir on disk: loading it (with files about to be applied laid over it),
writing applied files atomically, and cutting one object's document out of a file.

Cutting keeps every other document of the file byte for byte, so a hand-written file
with comments loses only what the operator deleted.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from agenttower.model.desired import Desired, Problem, resolve, resolve_lenient
from agenttower.model.errors import AgentTowerError, SourceLocation, raise_all
from agenttower.model.legacy import LegacyCatalog
from agenttower.model.manifests import Manifest, manifest_files, parse_file, parse_text
from agenttower.model.yamlload import load_documents, split_documents


@dataclass(frozen=True)
class Incoming:
    """A file handed to `apply -f`: where it will live, what it says, what to call it."""

    destination: Path
    text: str
    display: str


def destination(desired_dir: Path, source: Path, base: Path | None = None) -> Path:
    """`<desired>/<basename>`, or the path relative to a directory given to `-f`,
    unless the file already lives in the desired dir."""
    resolved_dir = desired_dir.resolve()
    resolved = source.resolve()
    if resolved.is_relative_to(resolved_dir):
        return desired_dir / resolved.relative_to(resolved_dir)
    if base is not None:
        return desired_dir / source.relative_to(base)
    return desired_dir / source.name


def collect(desired_dir: Path, paths: Iterable[Path]) -> list[Incoming]:
    """The files given to `apply -f`/`diff -f`, each parsed: every broken file is reported
    (an ErrorList), not only the first, so one run shows all that must be fixed."""
    incoming: list[Incoming] = []
    errors: list[AgentTowerError] = []
    for path in paths:
        base = path if path.is_dir() else None
        for file in manifest_files(path):
            try:
                text = _read(file)
            except AgentTowerError as exc:
                errors.append(exc)
                continue
            incoming.append(Incoming(destination(desired_dir, file, base), text, str(file)))
    raise_all(errors)
    return incoming


def object_count(incoming: Iterable[Incoming]) -> int:
    return sum(len(parse_text(item.text, item.display)) for item in incoming)


def _read(path: Path) -> str:
    # parse_file gives the located error for unreadable/undecodable files
    parse_file(path)
    return path.read_text(encoding="utf-8")


def load(desired_dir: Path, legacy: LegacyCatalog, incoming: Iterable[Incoming] = ()) -> Desired:
    overlay = {item.destination.resolve(): item for item in incoming}
    manifests: list[Manifest] = []
    files = manifest_files(desired_dir) if desired_dir.is_dir() else []
    errors: list[AgentTowerError] = []
    for file in files:
        if file.resolve() not in overlay:
            try:
                manifests.extend(parse_file(file))
            except AgentTowerError as exc:
                errors.append(exc)
    for item in overlay.values():
        manifests.extend(parse_text(item.text, item.display))
    raise_all(errors)  # every broken file of the dir, not only the first
    desired = resolve(manifests, legacy)
    return _located_in_dir(desired, {item.display: item.destination for item in overlay.values()})


def _located_in_dir(desired: Desired, moved: Mapping[str, Path]) -> Desired:
    """Errors name the file the operator gave; records name where it lives now."""
    if not moved:
        return desired
    layouts = {
        name: replace(lay, source=SourceLocation(str(moved[lay.source.file]), lay.source.line))
        if lay.source and lay.source.file in moved
        else lay
        for name, lay in desired.layouts.items()
    }
    return replace(desired, layouts=layouts)


@dataclass
class DirCache:
    """Parsed files by (mtime, size, inode): the controller re-reads only what changed."""

    files: dict[Path, tuple[tuple[int, int, int], list[Manifest] | AgentTowerError]] = field(
        default_factory=dict
    )
    result: tuple[Desired, tuple[Problem, ...]] | None = None


def load_lenient(
    desired_dir: Path, legacy: LegacyCatalog, cache: DirCache
) -> tuple[Desired, tuple[Problem, ...]]:
    """The whole dir; a file that does not parse or validate becomes a Problem, not a stop."""
    files = manifest_files(desired_dir) if desired_dir.is_dir() else []
    seen: dict[Path, tuple[tuple[int, int, int], list[Manifest] | AgentTowerError]] = {}
    changed = False
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = cache.files.get(file)
        if hit is not None and hit[0] == key:
            seen[file] = hit
            continue
        changed = True
        try:
            seen[file] = (key, parse_file(file))
        except AgentTowerError as exc:
            seen[file] = (key, exc)
    changed = changed or set(seen) != set(cache.files)
    cache.files = seen
    if cache.result is None or changed or legacy.templates or legacy.profiles:
        cache.result = resolve_lenient([(str(f), r) for f, (_, r) in seen.items()], legacy)
    return cache.result


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def without_documents(text: str, indices: set[int], file: str) -> str:
    """`text` minus the documents at `indices` (as `load_documents` counts them), each
    with one adjacent `---` line; every other byte stays as it was."""
    doc_at = {doc.span: doc.index for doc in load_documents(text, file)}
    chunks = split_documents(text)
    # segments: chunk0, sep0, chunk1, sep1, ... chunkN (sep i sits after chunk i)
    keep_chunk = [doc_at.get((start, end)) not in indices for start, end, _ in chunks]
    keep_sep = [True] * (len(chunks) - 1)
    for k, kept in enumerate(keep_chunk):
        if kept:
            continue
        if k > 0 and keep_sep[k - 1]:
            keep_sep[k - 1] = False
        elif k < len(keep_sep):
            keep_sep[k] = False
    parts: list[str] = []
    for k, (start, end, _) in enumerate(chunks):
        if keep_chunk[k]:
            parts.append(text[start:end])
        if k < len(keep_sep) and keep_sep[k]:
            parts.append(text[end : chunks[k + 1][0]])
    return "".join(parts)


def remove_objects(manifests: Mapping[tuple[str, str], Manifest]) -> list[Path]:
    """Cut each manifest's document out of its file; delete files left with none."""
    by_file: dict[str, set[int]] = {}
    for manifest in manifests.values():
        by_file.setdefault(manifest.document.file, set()).add(manifest.document.index)
    touched = []
    for file, indices in by_file.items():
        path = Path(file)
        text = path.read_text(encoding="utf-8")
        remaining = without_documents(text, indices, file)
        if parse_text(remaining, file):
            write_atomic(path, remaining)
        else:
            path.unlink()
        touched.append(path)
    return touched
