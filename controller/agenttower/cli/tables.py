"""kubectl-style tables (plain columns, no box) rendered with rich, imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return "-"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int] | None = None
) -> None:
    """`widths`: fixed column widths and no header (a `get -w` row under its table)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold", show_header=widths is None)
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, min_width=widths[i] if widths else None)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    Console(soft_wrap=True, width=max(160, sum(len(h) for h in headers) * 4)).print(table)


def observed(status: dict[str, Any]) -> str | None:
    """Whose eyes the STATE column is: `live` (this command listed tmux), the controller's
    last pass and how long ago, or `stale` (the target could not be listed)."""
    source = status.get("observation")
    if source == "controller":
        return f"controller {age(status.get('observedAt'))} ago"
    return str(source) if source else None


LAYOUT_COLUMNS = ("NAME", "TARGET", "SESSION", "STATE", "READY", "AGE", "OBSERVED")
LAYOUT_WIDE = ("ID", "SOURCE")
PANE_COLUMNS = ("NAME", "ROLE", "STATE", "STAGE", "ACTIVITY", "TMUX", "AGE", "OBSERVED")
PANE_WIDE = ("ID", "PREDECESSOR", "DEPTH", "AGENT", "REASON")
AGENT_COLUMNS = ("NAME", "ORIGIN", "PANE", "TARGET", "TMUX", "AGE")


def layout_row(item: dict[str, Any], wide: bool) -> list[Any]:
    s = item["status"]
    row = [
        item["metadata"]["name"],
        s["target"],
        s["session"],
        s["state"],
        f"{s['readyPanes']}/{s['totalPanes']}",
        age(item["metadata"]["creationTimestamp"]),
        observed(s),
    ]
    return row + ([s["id"], s["sourceFile"]] if wide else [])


def pane_row(item: dict[str, Any], wide: bool) -> list[Any]:
    s = item["status"]
    row = [
        item["metadata"]["name"],
        item["spec"]["role"],
        s["state"],
        s["failedStage"],
        s["activity"],
        s["tmuxPaneId"],
        age(item["metadata"]["creationTimestamp"]),
        observed(s),
    ]
    return row + ([s["id"], s["predecessorId"], s["chainDepth"], s["agentId"], s["reason"]] if wide else [])


def agent_row(item: dict[str, Any], wide: bool) -> list[Any]:
    spec = item["spec"]
    return [
        item["metadata"]["name"],
        spec["origin"],
        spec["pane"],
        spec["target"],
        item["status"]["tmuxPaneId"],
        age(item["metadata"]["creationTimestamp"]),
    ]


def widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """The width each column of print_table had, so later rows line up under it."""
    cells = [list(headers), *([cell(v) for v in row] for row in rows)]
    return [max(len(str(line[i])) for line in cells) for i in range(len(headers))]


def cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)
