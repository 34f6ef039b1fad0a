"""Parsing one `list-panes -a -F` listing, and classifying a listing that failed.

A failed listing is either confidently empty (no server, no socket: the panes are
gone) or indeterminate (a timeout, anything unknown): then records must stay as they
are, so the two are told apart here, from tmux's stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

FIELDS = (
    "session_name",
    "session_id",
    "window_id",
    "pane_index",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_dead_time",
    "@agenttower_pane",
    "@agenttower_owner",
    "@agenttower_pending",
    "@agenttower_spec",
    "pane_title",
)
FORMAT = "\t".join("#{" + f + "}" for f in FIELDS)

_EMPTY_MARKERS = (
    "no server running",
    "error connecting to",
    "no such file or directory",
    "connection refused",
)


class ListingStatus(StrEnum):
    OK = "ok"
    EMPTY = "empty"  # confidently nothing there: no server, no socket
    INDETERMINATE = "indeterminate"  # do not act on records


@dataclass(frozen=True)
class ObservedPane:
    session: str
    session_id: str
    window_id: str
    pane_index: int
    pane_id: str
    pid: int | None
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    dead_time: int | None
    record_id: str
    owner: str
    pending: str
    spec_hash: str
    title: str

    @property
    def exit_description(self) -> str:
        if self.dead_signal:
            return f"killed by signal {self.dead_signal}"
        return f"exited with status {self.dead_status}"


@dataclass(frozen=True)
class Listing:
    target_key: str
    status: ListingStatus
    panes: tuple[ObservedPane, ...] = ()
    error: str | None = None

    @property
    def known(self) -> bool:
        return self.status is not ListingStatus.INDETERMINATE

    def sessions(self) -> set[str]:
        return {p.session for p in self.panes}


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_listing(target_key: str, stdout: str) -> Listing:
    panes = []
    for line in stdout.splitlines():
        parts = line.split("\t", len(FIELDS) - 1)
        if len(parts) != len(FIELDS):
            continue
        (
            session,
            session_id,
            window_id,
            index,
            pane_id,
            pid,
            dead,
            status,
            signal,
            dead_time,
            record,
            owner,
            pending,
            spec,
            title,
        ) = parts
        panes.append(
            ObservedPane(
                session=session,
                session_id=session_id,
                window_id=window_id,
                pane_index=_int(index) or 0,
                pane_id=pane_id,
                pid=_int(pid),
                dead=dead == "1",
                dead_status=_int(status),
                dead_signal=_int(signal),
                dead_time=_int(dead_time),
                record_id=record,
                owner=owner,
                pending=pending,
                spec_hash=spec,
                title=title,
            )
        )
    return Listing(target_key, ListingStatus.OK, tuple(panes))


def classify_failure(target_key: str, stderr: str) -> Listing:
    lowered = stderr.lower()
    if any(marker in lowered for marker in _EMPTY_MARKERS):
        return Listing(target_key, ListingStatus.EMPTY, (), stderr.strip() or None)
    return Listing(target_key, ListingStatus.INDETERMINATE, (), stderr.strip() or "unknown error")
