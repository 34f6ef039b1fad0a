"""Strict multi-document YAML loading with line numbers.

Written by hand because PyYAML's loaders silently keep the last of duplicate keys,
turn `on`/`no` into booleans and `012` into 10, and expand alias bombs lazily. This
loader resolves only the YAML 1.2 core scalars, rejects duplicate keys and tags other
than the core ones (`!!str 10` is a string, `!!python/...` an error), caps the expanded
size of aliases, and remembers the line of every value so an error can name
`file:line`. Documents are split on column-0 `---` lines and parsed one by one, which
also gives each document's exact byte span (used to delete one document while keeping
the rest of the file byte for byte).

Nesting is capped at `MAX_DEPTH` collections, counted through aliases, and an alias
inside the node it names (`spec: &a [*a]`) is an error at the alias's line: PyYAML's
composer, the builder below and pydantic all recurse once per level, so 3,000 levels of
`[[[...]]]` or a cyclic alias used to end in a RecursionError (an `internal_error`
with no location) instead of a located `validation_failed`.

Events come from libyaml's C scanner and parser when PyYAML was built with it (its
events carry the same line marks), composed here in Python with the checks above: the
pure-Python scanner was the largest single cost of `apply` (35 ms of a 100-pane file's
45). Without libyaml the pure-Python reader, scanner and parser do the same job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SourceLocation, clamp, excerpt, validation_failed


def _libyaml_parser() -> type[Any] | None:
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml
        return None
    return CParser


_CParser = _libyaml_parser()

MAX_EXPANDED_NODES = 20_000
# The deepest real manifest nests 5 collections (document > spec > panes > [i] > pane);
# 64 leaves room for any hand-written structure while keeping the recursion of PyYAML's
# composer (3 Python frames per level), the builder and pydantic at a few hundred frames,
# far below Python's limit of 1,000 even when loading from deep inside the controller.
MAX_DEPTH = 64
Path = tuple[str | int, ...]

_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")
_BARE_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"  # libyaml's own cap (1,000 levels)
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


class _Hardened(yaml.composer.Composer, _CoreResolver):
    """PyYAML's composer with the depth and alias checks, over whichever event source
    comes after it in the class order (libyaml's parser, or PyYAML's own)."""

    if TYPE_CHECKING:  # given by that event source; defined here, they would hide it

        def __init__(self, stream: str) -> None: ...
        def peek_event(self) -> yaml.Event: ...

    def _start(self) -> None:
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)
        self._depth = 0  # collections open around the node being composed
        self._path: list[str | int] = []  # where the innermost of them is
        self._open: set[str] = set()  # anchors of those collections
        self._heights: dict[int, int] = {}  # id(node) -> collections nested in it, itself included

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        """PyYAML's, refusing too deep nesting and recursive aliases before it recurses."""
        event = self.peek_event()
        here = self._path if parent is None else [*self._path, _segment(index)]
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                problem = f"recursive alias *{clamp(event.anchor, 40)} refers to a node that holds it"
                raise _ComposeError(here, problem, event.start_mark)
            target = self.anchors.get(event.anchor) if event.anchor is not None else None
            if target is not None and self._depth + self._heights.get(id(target), 0) > MAX_DEPTH:
                raise _ComposeError(
                    here, f"nested more than {MAX_DEPTH} levels deep (through this alias)", event.start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        if self._depth >= MAX_DEPTH:
            raise _ComposeError(here, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        anchor = event.anchor
        saved, self._path = self._path, here
        self._depth += 1
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._path = saved
            self._depth -= 1
            self._open.discard(anchor or "")
        if isinstance(node, yaml.SequenceNode):
            children: list[yaml.Node] = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._heights[id(node)] = 1 + max((self._heights.get(id(c), 0) for c in children), default=0)
        return node


class _PureComposer(_Hardened, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        self._start()

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        """The scanner reads ahead of the composer, keeping a possible simple key per open
        `[`, and checks them all on every token: 3,000 `[` cost 0.2 s before the composer
        saw the first. Capping flow levels here keeps that bounded."""
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)


_Composer: type[_Hardened] = _PureComposer
if _CParser is not None:

    class _CComposer(_Hardened, _CParser):  # type: ignore[misc, valid-type]
        """Events from libyaml (C), composed by `_Hardened` (Python): the composer's
        methods come first in the class order, so libyaml's own composer never runs."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)  # type: ignore[misc]  # a type known at run time only
            self._start()

    _Composer = _CComposer


class _ComposeError(yaml.composer.ComposerError):
    """A composer error that knows the field (dotted path) it happened at."""

    def __init__(self, path: list[str | int], problem: str, mark: Any) -> None:  # the stubs' Mark union
        super().__init__(None, None, problem, mark)
        self.field = ".".join(str(part) for part in path) or "document"


def _segment(index: object) -> str | int:
    """PyYAML passes a mapping value its key node, a list item its position, a key None."""
    if isinstance(index, yaml.ScalarNode):
        return str(index.value)
    return index if isinstance(index, int) else "[key]"


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


def decode(data: bytes, file: str) -> str:
    """UTF-8 text of a manifest file, or an error at the line and column of the first bad
    byte (with its byte offset, for a hex editor), so a stray Latin-1 `é` is findable."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8")) + 1
        reason = (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"(byte offset {exc.start}): {exc.reason}"
        )
        raise validation_failed("file", reason, SourceLocation(file, line)) from None


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset into `text`."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def _char_offset(chunk: str, position: int, composer_type: type[_Hardened]) -> int:
    """libyaml reads the UTF-8 bytes of the text, so its offsets count bytes."""
    if composer_type is _PureComposer:
        return position
    return len(chunk.encode("utf-8")[:position].decode("utf-8", "ignore"))


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
    composer_type = _Composer
    for start, end, first_line in split_documents(text):
        chunk = text[start:end]
        try:
            node = composer_type(chunk).get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = first_line + mark.line + 1 if mark is not None else first_line + 1
            # libyaml ends a stream without a final newline with one of its own: the end
            # of the text is its last line, not the one after
            line = min(line, first_line + chunk.count("\n") + 1)
            reason = str(exc.problem or exc.context or "invalid YAML")
            if reason == _LIBYAML_TOO_DEEP:  # its scanner reads ahead of our cap: same refusal
                reason = f"nested more than {MAX_DEPTH} levels deep"
            field = exc.field if isinstance(exc, _ComposeError) else "yaml"
            raise validation_failed(field, reason, SourceLocation(file, line)) from None
        except yaml.reader.ReaderError as exc:  # a character YAML forbids, e.g. NUL or ESC
            line, column = _line_column(chunk, _char_offset(chunk, exc.position, composer_type))
            reason = f"unacceptable character #x{exc.character:04x} at column {column}"
            raise validation_failed("yaml", reason, SourceLocation(file, first_line + line)) from None
        except yaml.YAMLError as exc:
            loc = SourceLocation(file, first_line + 1)
            raise validation_failed("yaml", str(exc).splitlines()[0], loc) from None
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
            total = 1  # no cycles reach here (the composer refuses them), and depth is capped
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
            raise validation_failed(
                "yaml", f"explicit tag {excerpt(node.tag)} is not allowed", self._loc(node)
            )
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
                    f"duplicate key {excerpt(key)}",
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
        except ValueError:  # the value is not shown: it may be a secret (`API_TOKEN: 1234...`)
            reason = f"not a valid {tag.rsplit(':', 1)[-1]} ({len(value)} characters, too long)"
            raise validation_failed("yaml", reason, self._loc(node)) from None
        raise validation_failed("yaml", f"explicit tag {excerpt(tag)} is not allowed", self._loc(node))
