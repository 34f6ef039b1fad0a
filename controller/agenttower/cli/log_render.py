"""A pane's log rendered to the text a person saw: each run's bytes through a terminal
emulator (pyte), so cursor moves, redraws and the alternate screen become words.

A log is a byte stream, not lines: a full-screen program writes the same rows over and
over, and what it showed is the screen those bytes leave, not their sequence. So each
run (model/log_header.py) is played on a fresh screen of the pane's size and the
transcript collects, in order:
- each line that scrolls off the top of the screen or of its scrolling region (a
  shell's or a line-based agent's output, a pager's lines, as they scrolled);
- the screen as it was when something wipes or hides it: a full clear, entering the
  alternate screen (the main screen so far) and leaving it (the last frame a
  full-screen program showed); rows already shown by the
  previous such frame, in the same place, are not repeated, so a program redrawing
  in place adds only what changed;
- the screen as the run leaves it.
Blank rows at the end of a frame are dropped. Colours and attributes are not kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

import pyte
from pyte.screens import Margins

from agenttower.model.log_header import Run, split_runs

DEFAULT_SIZE = (200, 60)  # a run without a header: wide and tall enough for most panes
ALT_SCREENS = (47, 1047, 1049)  # DEC private modes that switch to the alternate screen


class TranscriptScreen(pyte.Screen):
    """A screen that remembers what scrolled away or was wiped, as text lines."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.transcript: list[str] = []
        self._last_frame: list[str] = []
        self._saved: dict[int, Any] | None = None  # the main screen while the alternate one shows
        self._saved_cursor: Any = None
        self._main_frame: list[str] = []

    # -- what leaves the screen -------------------------------------------------------------
    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom:  # the top row of the scrolling region leaves the screen
            self.transcript.append(self._row(top))
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how in (2, 3):
            self.flush()
        super().erase_in_display(how, *args, **kwargs)

    def reset(self) -> None:
        if hasattr(self, "transcript"):  # pyte's __init__ calls reset() first
            self.flush()
        super().reset()

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and any(m in ALT_SCREENS for m in modes) and self._saved is None:
            self.flush()  # what the main screen shows so far comes first
            self._main_frame = self._last_frame
            self._saved = dict(self.buffer)
            self._saved_cursor = copy.copy(self.cursor)
            self.buffer.clear()
            self._last_frame = []
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and any(m in ALT_SCREENS for m in modes) and self._saved is not None:
            self.flush()  # the last frame the full-screen program showed
            self.buffer.clear()
            self.buffer.update(self._saved)
            self.cursor = self._saved_cursor
            self._saved = None
            self._last_frame = self._main_frame  # shown before: not repeated
        super().reset_mode(*modes, **kwargs)

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        """`CSI ? … m` / `CSI > … m` (xterm's key-modifier settings, which agents send)
        reach here as private SGR, which pyte's own method does not accept."""
        if not private:
            super().select_graphic_rendition(*attrs)

    # -- text ---------------------------------------------------------------------------------
    def _row(self, y: int) -> str:
        line = self.buffer.get(y)
        if not line:
            return ""
        width = min(max(line) + 1, self.columns)  # a row holds only the cells written
        return "".join(line[x].data for x in range(width)).rstrip()

    def frame(self) -> list[str]:
        rows = [self._row(y) for y in range(self.lines)]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def flush(self) -> None:
        """Add what the screen shows now, less the rows the previous frame showed alike."""
        rows = self.frame()
        last = self._last_frame
        fresh = [row for y, row in enumerate(rows) if y >= len(last) or last[y] != row]
        if fresh and any(fresh):
            self.transcript.extend(_squeeze(fresh))
        self._last_frame = rows


# what pyte calls without parameters, or with the text itself: nothing to misapply (and
# the hot path: one call per chunk of text, per line feed)
_PLAIN = frozenset(
    ("draw", "linefeed", "carriage_return", "backspace", "tab", "bell", "shift_in", "shift_out", "debug")
)


class _Tolerant:
    """The screen as pyte's parser sees it: a sequence the screen cannot apply is skipped.

    pyte hands malformed or unusual sequences to methods that do not take them (a
    private flag on a cursor move, an extra parameter) and its parser dies of the
    TypeError; a log holds whatever its agent wrote, so one such sequence must cost
    that sequence, not the rest of the log."""

    def __init__(self, screen: TranscriptScreen) -> None:
        self._screen = screen

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._screen, name)
        if not callable(method) or name in _PLAIN:
            return method

        def tolerant(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception:  # a sequence pyte cannot apply: skipped
                return None

        return tolerant


def _squeeze(rows: list[str]) -> list[str]:
    """Runs of blank rows inside a frame become one (a full-screen layout's padding)."""
    out: list[str] = []
    for row in rows:
        if row or (out and out[-1]):
            out.append(row)
    while out and not out[0]:
        out.pop(0)
    return out


def render_run(run: Run) -> list[str]:
    header = run.header
    columns, lines = DEFAULT_SIZE
    if header is not None and header.columns > 0 and header.rows > 0:
        columns, lines = header.columns, header.rows
    screen = TranscriptScreen(columns, lines)
    stream = pyte.ByteStream()
    stream.attach(_Tolerant(screen))  # type: ignore[arg-type]  # a stand-in: every attribute is the screen's
    stream.feed(run.data)
    screen.flush()
    return screen.transcript


def render(data: bytes, tail: int = -1) -> list[tuple[Run, list[str]]]:
    """Each run of a log and its text lines. With `tail` >= 0 only the last runs that
    give that many lines (their header lines counted) are played: each run starts on a
    fresh screen, so the runs before cannot change them, and `--tail` of a long log
    with many runs does not pay for rendering all of it."""
    runs = list(split_runs(data))
    if tail < 0:
        return [(run, render_run(run)) for run in runs]
    shown: list[tuple[Run, list[str]]] = []
    count = 0
    for run in reversed(runs):
        if count >= tail:
            break
        lines = render_run(run)
        shown.append((run, lines))
        count += len(lines) + (run.header is not None)
    return shown[::-1]


def text_lines(runs: Iterable[tuple[Run, list[str]]]) -> Iterator[str]:
    """The rendered log for people: a line where each run starts, then its text."""
    for run, lines in runs:
        if run.header is not None:
            yield run.header.describe()
        yield from lines
