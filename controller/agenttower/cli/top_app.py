"""The `top` dashboard as a textual app: the rows of `top_rows`, refreshed on a timer,
and the keys that act on the selected row.

Imported only by `top` (textual costs ~300 ms to import). Keys, no mouse: Enter attaches
(a client of the same server switches and `top` keeps running; otherwise `top` steps
aside while the tmux client has the terminal and comes back when it detaches), `r`
restarts the pane (after a `y`), `s` sends it a line of text (to every live pane for a
layout row), `/` filters, `q` quits. Restart and send are the verbs' own requests
(`dispatch`: the controller's socket, else in-process), run off the UI thread.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from agenttower.model.errors import AgentTowerError
from agenttower.paths import Paths
from agenttower.runtime.attach import Client, client
from agenttower.settings import Settings

from . import locate
from .top_rows import Board, Row, visible

COLUMNS = ("NAME", "STATE", "ACTIVITY", "AGE", "RST", "LAST EVENT")
PADDING = 2  # a DataTable cell's, per column
CONTROLLER_EVERY = 4  # refreshes between two looks at the controller's socket


class Ask(ModalScreen[str | None]):
    """One line of input (the text to send, or `y` to confirm); Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    Ask { align: center bottom; }
    Ask > Static { width: 100%; background: $panel; }
    Ask > Input { width: 100%; }
    """

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        yield Static(self.prompt)
        yield Input()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Panes(DataTable[str]):
    """The table, with Enter named in the footer (DataTable binds it, unlisted)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "attach")]


class Top(App[None]):
    TITLE = "agenttower top"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restart", "restart"),
        Binding("s", "send", "send"),
        Binding("slash", "filter", "filter"),
        Binding("escape", "unfilter", "clear filter", show=False),
        Binding("q", "quit", "quit"),
    ]
    CSS = """
    #head { height: 1; background: $primary-background; }
    #status { height: 1; background: $panel; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    DataTable { height: 1fr; }
    """

    def __init__(self, paths: Paths, settings: Settings, interval: float) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings
        self.interval = interval
        self.board = Board(paths)
        self.rows: list[Row] = []
        self.shown: list[Row] = []
        self.drawn: list[tuple[str, ...]] = []  # the cells of `shown`, as on screen
        self.filter_text = ""
        self.message = ""
        self.controller = "controller ?"
        self.refreshes = 0

    def compose(self) -> ComposeResult:
        yield Static("agenttower top", id="head", markup=False)
        yield Panes(cursor_type="row")
        yield Input(placeholder="filter: words of the name, state or activity", id="filter")
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(Panes)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.refresh_rows()
        self.set_interval(self.interval, self.refresh_rows)

    def on_unmount(self) -> None:
        self.board.close()

    # ---- what is shown ------------------------------------------------------------------
    def refresh_rows(self) -> None:
        if self.refreshes % CONTROLLER_EVERY == 0:
            self.look_at_controller()
        self.refreshes += 1
        self.rows = self.board.rows(datetime.now(UTC))
        self.redraw()

    def redraw(self) -> None:
        table = self.query_one(Panes)
        shown = visible(self.rows, self.filter_text)
        width = max(self.size.width - _fixed_width(shown), 16)
        cells = [_cells(row, width) for row in shown]
        keys = [row.key for row in shown]
        if keys == [row.key for row in self.shown]:
            for row, new, old in zip(shown, cells, self.drawn, strict=True):
                for column, value, before in zip(COLUMNS, new, old, strict=True):
                    if value != before:
                        table.update_cell(row.key, column, value, update_width=True)
        else:
            selected = self.selected()
            table.clear()
            for key, row_cells in zip(keys, cells, strict=True):
                table.add_row(*row_cells, key=key)
            if selected is not None and selected.key in keys:
                table.move_cursor(row=keys.index(selected.key))
        self.shown, self.drawn = shown, cells
        self.head()
        self.status()

    def head(self) -> None:
        layouts = sum(1 for r in self.rows if r.is_layout)
        panes = len(self.rows) - layouts
        parts = [
            "agenttower top",
            f"{layouts} layout{'s' * (layouts != 1)}, {panes} pane{'s' * (panes != 1)}",
            self.controller,
        ]
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}")
        text = " · ".join(parts)
        clock = datetime.now(UTC).strftime("%H:%M:%SZ")
        fits = len(text) + len(clock) + 3 <= self.size.width
        self.query_one("#head", Static).update(f"{text} · {clock}" if fits else text)

    def status(self) -> None:
        row = self.selected()
        if row is None:
            self.query_one("#status", Static).update(self.message or "no layouts in the state store yet")
            return
        said = self.message or row.detail
        self.query_one("#status", Static).update(f"[{row.name}] {said}".rstrip())

    def selected(self) -> Row | None:
        table = self.query_one(Panes)
        if not self.shown or not 0 <= table.cursor_row < len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.message = ""
        self.status()

    def say(self, text: str) -> None:
        self.message = text
        self.status()

    @work(thread=True, exclusive=True, group="controller")
    def look_at_controller(self) -> None:
        """Running or not, over its socket (answered from its memory: no tmux call)."""
        from agenttower.daemon import protocol

        try:
            protocol.call(self.paths.socket, {"op": protocol.OBSERVATION}, 2.0)
            seen = "controller running"
        except (protocol.ControllerUnavailable, protocol.NoAnswer, AgentTowerError, OSError, ValueError):
            seen = "no controller: records as last written"
        self.call_from_thread(self._controller_seen, seen)

    def _controller_seen(self, seen: str) -> None:
        self.controller = seen
        self.head()

    # ---- keys ---------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self.selected()
        if row is not None:
            self.say(f"looking for {row.name}...")
            self.find(row)

    @work(thread=True, exclusive=True, group="attach")
    def find(self, row: Row) -> None:
        """Off the UI thread: the one listing may take the read timeout on a hung target."""
        try:
            if row.is_layout:
                where = locate.layout(self.paths, self.settings, row.name, "attach")
            else:
                where = locate.pane(self.paths, self.settings, row.name, "attach", True)
        except AgentTowerError as exc:
            self.call_from_thread(self.say, f"error: {exc.code}: {exc.message}")
            return
        self.call_from_thread(self.attach, row, client(where.tmux.target, where.where))

    def attach(self, row: Row, chosen: Client) -> None:
        if chosen.switch:  # this client moves there; top keeps running where it was
            done = subprocess.run(list(chosen.argv), env=dict(chosen.env), capture_output=True, text=True)
            self.say(f"switched to {row.name}" if done.returncode == 0 else f"error: {done.stderr.strip()}")
            return
        with self.suspend():  # the terminal is the tmux client's until it detaches
            subprocess.run(list(chosen.argv), env=dict(chosen.env))
        self.say(f"back from {row.name}")

    def action_restart(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.is_layout:
            self.say("restart takes a pane: select one of the layout's panes")
            return

        def confirmed(answer: str | None) -> None:
            if answer is not None and answer.strip().lower() in ("y", "yes"):
                self.say(f"restarting {row.name}...")
                self.request({"op": "restart", "pane": row.name, "fresh": False}, row.name)
            else:
                self.say("not restarted")

        self.push_screen(Ask(f"restart {row.name}? (y to confirm, Escape to cancel)"), confirmed)

    def action_send(self) -> None:
        row = self.selected()
        if row is None:
            return
        subject = {"layout": row.name, "role": None} if row.is_layout else {"pane": row.name}
        whom = f"every live pane of {row.name}" if row.is_layout else row.name

        def typed(text: str | None) -> None:
            if not text:
                self.say("nothing sent")
                return
            self.say(f"sending to {whom}...")
            request = {"op": "send", **subject, "text": text, "enter": True, "when": "now"}
            self.request(request, row.name)

        self.push_screen(Ask(f"send to {whom} (Enter sends and presses Enter, Escape cancels):"), typed)

    @work(thread=True, group="requests")
    def request(self, request: dict[str, Any], name: str) -> None:
        from .dispatch import dispatch

        try:
            result = dispatch(self.paths, self.settings, request)
        except AgentTowerError as exc:
            self.call_from_thread(self.say, f"error: {exc.code}: {exc.message}")
            return
        self.call_from_thread(self.say, _outcome(request["op"], name, result))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.remove_class("shown")
            self.query_one(Panes).focus()

    def action_unfilter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.filter_text = ""
        self.query_one(Panes).focus()
        self.redraw()


def _fixed_width(rows: list[Row]) -> int:
    """The columns before LAST EVENT, as wide as their widest cell, and the scroll bar:
    what is left is the last event's (cut to fit, so no row scrolls sideways)."""
    cells = [_cells(row, 0)[:-1] for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) + PADDING for i, h in enumerate(COLUMNS[:-1])]
    return sum(widths) + PADDING + 2


def _cells(row: Row, event_width: int) -> tuple[str, ...]:
    cut = len(row.last_event) > event_width
    event = row.last_event[: max(event_width - 1, 0)] + "…" if cut else row.last_event
    name = row.name if row.is_layout else f"  {row.name}"
    return (name, row.state, row.activity, row.age, row.restarts, event)


def _outcome(op: str, name: str, result: dict[str, Any]) -> str:
    if op == "restart":
        return f"restarted {name} as {result.get('id')} ({result.get('state')})"
    said = "delivered" if result.get("delivered") else "NOT confirmed on screen"
    return f"sent to {name}: {said}"
