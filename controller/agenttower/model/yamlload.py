"""Strict multi-document YAML loading with line numbers.

Written by hand because PyYAML's loaders silently keep the last of duplicate keys,
turn `on`/`no` into booleans and `012` into 10, and expand alias bombs lazily. This
loader resolves only the YAML 1.2 core scalars, rejects duplicate keys and tags other
than the core ones (`!!str 10` is a string, `!!python/...` an error), caps the expanded
size of aliases, and remembers the line of every value so an error can name
`file:line`. Documents are split on column-0 `---` lines and parsed one by one, which
also gives each document's exact byte span (used to delete one document while keeping
the rest of the file byte for byte).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import SourceLocation, validation_failed

MAX_EXPANDED_NODES = 20_000
Path = tuple[str | int, ...]

_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")
_BARE_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _CoreResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema: no yes/no/on/off booleans, no sexagesimal or 0-octal ints."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")),
):
    _CoreResolver.add_implicit_resolver(_tag, _regexp, _first)


class _Composer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _CoreResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, where it starts, and the line of every value in it."""

    data: Any
    file: str
    index: int
    start_line: int
    span: tuple[int, int]
    lines: Mapping[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of the deepest existing prefix of `path` (the field, else its parent)."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                return line
        return self.start_line

    def where(self, path: Path = ()) -> SourceLocation:
        return SourceLocation(self.file, self.line_of(path))


def split_documents(text: str) -> list[tuple[int, int, int]]:
    """(byte start, byte end, first line index) of each chunk between `---` lines."""
    chunks: list[tuple[int, int, int]] = []
    start, start_line, offset = 0, 0, 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        bare = line.rstrip("\r\n")
        if _BARE_SEPARATOR.match(bare):
            chunks.append((start, offset, start_line))
            start, start_line = offset + len(line), number + 1
        elif _SEPARATOR.match(bare):  # `--- {a: 1}`: the document starts on the separator line
            chunks.append((start, offset, start_line))
            start, start_line = offset + 3, number
        offset += len(line)
    chunks.append((start, len(text), start_line))
    return chunks


def load_documents(text: str, file: str) -> list[Document]:
    """Parse every non-empty document of `text`; raise `validation_failed` with file:line."""
    documents: list[Document] = []
    for start, end, first_line in split_documents(text):
        chunk = text[start:end]
        try:
            composer = _Composer(chunk)
            node = composer.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = first_line + mark.line + 1 if mark is not None else first_line + 1
            reason = str(exc.problem or exc.context or "invalid YAML")
            raise validation_failed("yaml", reason, SourceLocation(file, line)) from None
        except yaml.YAMLError as exc:
            loc = SourceLocation(file, first_line + 1)
            raise validation_failed("yaml", str(exc), loc) from None
        if node is None:
            continue
        builder = _Builder(file, first_line)
        builder.check_size(node)
        data = builder.build(node, ())
        documents.append(
            Document(
                data=data,
                file=file,
                index=len(documents),
                start_line=first_line + node.start_mark.line + 1,
                span=(start, end),
                lines=builder.lines,
            )
        )
    return documents


class _Builder:
    def __init__(self, file: str, first_line: int) -> None:
        self.file = file
        self.first_line = first_line
        self.lines: dict[Path, int] = {}

    def _loc(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, self.first_line + node.start_mark.line + 1)

    def check_size(self, root: yaml.Node) -> None:
        sizes: dict[int, int] = {}

        def size(node: yaml.Node) -> int:
            known = sizes.get(id(node))
            if known is not None:
                return known
            sizes[id(node)] = 1  # a cycle counts once; it is rejected by the cap below anyway
            total = 1
            if isinstance(node, yaml.MappingNode):
                total += sum(size(k) + size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total += sum(size(item) for item in node.value)
            sizes[id(node)] = total
            if total > MAX_EXPANDED_NODES:
                raise validation_failed(
                    "yaml",
                    f"document expands to more than {MAX_EXPANDED_NODES} values (alias bomb?)",
                    self._loc(node),
                )
            return total

        size(root)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.lines.setdefault(path, self.first_line + node.start_mark.line + 1)
        expected = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag != expected:
            raise validation_failed("yaml", f"explicit tag {node.tag} is not allowed", self._loc(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise validation_failed("yaml", "mapping keys must be plain strings", self._loc(key_node))
            key = str(key_node.value)
            if key in result:
                raise validation_failed(
                    ".".join(str(p) for p in (*path, key)),
                    f"duplicate key {key!r}",
                    self._loc(key_node),
                )
            self.lines[(*path, key)] = self.first_line + key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.Node) -> Any:
        value = str(node.value)
        tag = node.tag
        if tag == _STR_TAG:
            return value
        try:
            if tag == "tag:yaml.org,2002:null":
                return None
            if tag == "tag:yaml.org,2002:bool":
                return value.lower() == "true"
            if tag == "tag:yaml.org,2002:int":
                return int(value, 0) if value[:2] in ("0o", "0x") else int(value)
            if tag == "tag:yaml.org,2002:float":
                return float(value.replace("inf", "Infinity").replace("Inf", "Infinity"))
        except ValueError:
            raise validation_failed(
                "yaml", f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}", self._loc(node)
            ) from None
        raise validation_failed("yaml", f"explicit tag {tag} is not allowed", self._loc(node))
