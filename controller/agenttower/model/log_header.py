"""The line that opens each run of a pane in its log file, written and read here only.

A pane's log holds every run of its slot one after the other (a restart appends), so
each run starts with one readable line naming its record, start time, screen size and
argv: `cat` of the file shows where a run begins, and `logs` cuts the byte stream there
to render each run on a fresh screen. The line starts on a line of its own (a newline
first: the run before may have ended mid-line); the argv is JSON, so the line holds
no newline and no byte a terminal would act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

PREFIX = "--- agenttower run: pane "
CONTINUED = " (continued after rotation)"
# pane <id> started <rfc3339> size <cols>x<rows> argv <json list> [continued] ---
_LINE = re.compile(
    rb"^--- agenttower run: pane (?P<id>[\w-]+) started (?P<started>\S+)"
    rb" size (?P<cols>\d+)x(?P<rows>\d+) argv (?P<argv>\[.*?\])(?P<continued>"
    + re.escape(CONTINUED.encode())
    + rb")? ---\r?$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class RunHeader:
    pane_id: str
    started: str
    argv: tuple[str, ...]
    columns: int = 0  # 0: not known (the renderer picks a size)
    rows: int = 0
    continued: bool = False  # the run began in a file rotated away; its screen starts empty here

    def line(self, size: str | None = None) -> str:
        """The header without its leading newline; `size` replaces `COLSxROWS` (the pipe
        lets tmux expand `#{pane_width}x#{pane_height}` there)."""
        dims = size if size is not None else f"{self.columns}x{self.rows}"
        argv = json.dumps(list(self.argv), separators=(",", ":"))
        tail = CONTINUED if self.continued else ""
        return f"{PREFIX}{self.pane_id} started {self.started} size {dims} argv {argv}{tail} ---"

    def continued_line(self) -> str:
        """The header a rotated log starts with: the same run, its earlier bytes gone."""
        return replace(self, continued=True).line()

    def describe(self) -> str:
        """For people: what `logs` prints where a run starts."""
        words = " ".join(self.argv) if self.argv else "(login shell)"
        tail = ", continued after rotation" if self.continued else ""
        return f"=== run of pane {self.pane_id}, started {self.started}: {words}{tail} ==="


@dataclass(frozen=True)
class Run:
    header: RunHeader | None  # None: bytes before the first header (a log from before headers)
    data: bytes


def split_runs(data: bytes) -> Iterator[Run]:
    """The runs of a log, in order; each one's bytes exclude its header line."""
    start, header = 0, None
    for found in _LINE.finditer(data):
        body = data[start : found.start()]
        if header is not None or body.strip():
            yield Run(header, body.removesuffix(b"\n"))
        header = _parse(found)
        start = found.end() + 1  # past the newline that ends the header
    body = data[start:]
    if header is not None or body.strip():
        yield Run(header, body)


def last_header(data: bytes) -> RunHeader | None:
    """The header of the run a log ends with, found from the end (a rotation asks this
    of a whole file, and the run it continues began near its end or not at all)."""
    marker = b"\n" + PREFIX.encode()
    end = len(data)
    while (at := data.rfind(marker, 0, end)) >= 0:
        found = _LINE.match(data, at + 1)
        if found is not None:
            return _parse(found)
        end = at
    found = _LINE.match(data, 0)  # a file that starts with a header, without the newline
    return _parse(found) if found is not None else None


def _parse(found: re.Match[bytes]) -> RunHeader:
    try:
        argv = json.loads(found["argv"])
    except ValueError:
        argv = []
    words: Sequence[str] = [str(a) for a in argv] if isinstance(argv, list) else []
    return RunHeader(
        found["id"].decode(),
        found["started"].decode(),
        tuple(words),
        int(found["cols"]),
        int(found["rows"]),
        found["continued"] is not None,
    )
