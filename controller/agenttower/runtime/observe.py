"""Parsing one `list-panes -a -F` listing, and classifying a listing that failed.

A listing tmux answered is read whole or not at all: a line that does not split into
every field (a tmux client that sanitised the tabs to `_` because it thought its
locale was not UTF-8, a format this version does not expand, output of something
else) may be one of our panes, so such a listing is indeterminate, never "these panes
and no others". Read as "no panes", it once made every pass spawn a layout again and
`delete` kill nothing.

A failed listing is either confidently empty (no server, no socket, a container that
is stopped or gone: the panes are gone) or indeterminate (a timeout, a docker daemon
that does not answer, anything unknown): then records must stay as they are, so the
two are told apart here, from stderr. tmux and docker both exit 1 for all of these;
only the message differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from .ssh import SshFailure

_EMPTY_MARKERS = (
    "no server running",
    "server exited unexpectedly",  # its last session just went: the server is gone, not unknown
    # A live server with no session at this instant: `list-panes -a` still resolves a
    # default target first and fails. It happens between another apply's `start-server`
    # and the first `new-session` of its batch. No session holds no pane.
    "no current target",
    "error connecting to",
    "no such file or directory",
    "connection refused",
)


# `docker exec` (and podman's) messages, checked before tmux's: the tmux markers below
# would misread some of them (podman's missing-binary error ends in "no such file").
_DOCKER_DOWN = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "error during connect",
)
_CONTAINER_MISSING = ("no such container", "no container with name or id")
_CONTAINER_STOPPED = ("is not running", "can only create exec sessions on running containers")
_CONTAINER_UNKNOWN = (  # the container is there but cannot be asked: leave records alone
    "is paused",
    "is restarting",
    "unable to find user",
    "executable file not found",
    "oci runtime",
    "permission denied while trying to connect",
)


class Unavailable(StrEnum):
    """Why a confidently empty target cannot take new panes right now."""

    CONTAINER_MISSING = "container_missing"
    CONTAINER_STOPPED = "container_stopped"


class ListingStatus(StrEnum):
    OK = "ok"
    EMPTY = "empty"  # confidently nothing there: no server, no socket
    INDETERMINATE = "indeterminate"  # do not act on records


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _index(text: str) -> int:
    return _int(text) or 0


def _flag(text: str) -> bool:
    return text == "1"


def _text(text: str) -> str:
    return text


@dataclass(frozen=True)
class Only:
    """A field expanded only when the format `name` is set (`#{?name,...}`), or only when
    it is not (`when=False`); otherwise it reads as "". Every field of the listing costs
    tmux 1 to 2 ms per 1,000 panes (benchmarks/listing.py), and tmux skips the lookups
    of the branch it does not take."""

    name: str
    when: bool = True


FOREIGN = Only("@agenttower_pane", when=False)  # a pane with no agenttower record


def _tmux(name: str, parse: Callable[[str], object] = _text, only: Only | None = None) -> Any:
    """A field read from the listing's `#{name}`, converted by `parse` (which reads the
    "" of a field `only` left out)."""
    return field(metadata={"format": name, "parse": parse, "only": only})


@dataclass(frozen=True)
class ObservedPane:
    """One line of the listing. Each field names the tmux format it is read from; the
    listing's format is these fields in this order (the title last: it may hold tabs).
    What only some panes need is expanded only for them: an exit only for a dead pane,
    and what only `scan` shows (window, index, pid, title) only for a pane no agenttower
    owns."""

    session: str = _tmux("session_name")
    pane_id: str = _tmux("pane_id")
    dead: bool = _tmux("pane_dead", _flag)
    dead_status: int | None = _tmux("pane_dead_status", _int, Only("pane_dead"))
    dead_signal: int | None = _tmux("pane_dead_signal", _int, Only("pane_dead"))
    record_id: str = _tmux("@agenttower_pane")
    owner: str = _tmux("@agenttower_owner")
    pending: str = _tmux("@agenttower_pending")
    spec_hash: str = _tmux("@agenttower_spec")
    activity: str = _tmux("@agenttower_activity")  # set by the agent's own hooks (model/agents.py)
    server_pid: int | None = _tmux("pid", _int)  # the server's: a new pid is a new server
    agent_session: str = _tmux("@agenttower_agent_session")  # the id the agent's hooks reported
    window_id: str = _tmux("window_id", only=FOREIGN)
    pane_index: int = _tmux("pane_index", _index, FOREIGN)
    pid: int | None = _tmux("pane_pid", _int, FOREIGN)
    title: str = _tmux("pane_title", only=FOREIGN)

    @property
    def unreaped(self) -> bool:
        """Dead (its pty closed) but tmux has no exit status: the server missed the child's
        SIGCHLD (Debian's tmux loses it to libutempter's handler when the pty closes first),
        so the process is a zombie until some other child of the server exits."""
        return self.dead and self.dead_status is None and self.dead_signal is None

    @property
    def exit_description(self) -> str:
        if self.dead_signal:
            return f"killed by signal {self.dead_signal}"
        if self.dead_status is None:
            return "exited"
        return f"exited with status {self.dead_status}"


@dataclass(frozen=True)
class Screen:
    """What a pane showed when this pass read it, and at the read before (None: this is
    the first read of it)."""

    text: str
    previous: str | None = None

    @property
    def changed(self) -> bool | None:
        return None if self.previous is None else self.text != self.previous


@dataclass(frozen=True)
class Listing:
    target_key: str
    status: ListingStatus
    panes: tuple[ObservedPane, ...] = ()
    error: str | None = None
    unavailable: Unavailable | None = None  # empty because the container is stopped or gone
    transient: bool = False  # indeterminate for a reason that may pass (retried)
    ssh_failure: SshFailure | None = None  # an ssh host that could not be asked: why
    # tmux pane id -> its screen, for the panes whose screen this pass read (runtime/screen.py)
    screens: Mapping[str, Screen] = field(default_factory=dict, compare=False, hash=False)

    @property
    def known(self) -> bool:
        return self.status is not ListingStatus.INDETERMINATE

    @property
    def can_create(self) -> bool:
        """Panes can be spawned here now (a stopped or missing container cannot take any)."""
        return self.known and self.unavailable is None

    def sessions(self) -> set[str]:
        return {p.session for p in self.panes}


FIELDS = tuple(f.metadata["format"] for f in fields(ObservedPane))


def _listing_format() -> str:
    """The fields tab-separated; a run of fields under one `Only` is one conditional whose
    other branch holds just their tabs, so every line has the same columns."""
    columns: list[str] = []
    for only, run in itertools.groupby(fields(ObservedPane), key=lambda f: f.metadata["only"]):
        expanded = "\t".join("#{" + f.metadata["format"] + "}" for f in run)
        if only is None:
            columns.append(expanded)
            continue
        empty = "\t" * expanded.count("\t")
        taken, other = (expanded, empty) if only.when else (empty, expanded)
        columns.append("#{?" + only.name + "," + taken + "," + other + "}")
    return "\t".join(columns)


FORMAT = _listing_format()
_PARSERS = tuple(f.metadata["parse"] for f in fields(ObservedPane))


def parse_listing(target_key: str, stdout: str, reuse: dict[str, ObservedPane] | None = None) -> Listing:
    """With `reuse` (line -> pane, from the last listing of the same target), a line seen
    before is not split again: a converged pass lists the same 1,000 lines every time.
    `reuse` is left holding the lines of this listing."""
    panes = []
    unreadable: list[str] = []
    seen: dict[str, ObservedPane] = {}
    for line in stdout.splitlines():
        known = reuse.get(line) if reuse is not None else None
        if known is not None:
            panes.append(known)
            seen[line] = known
            continue
        if not line.strip():
            continue
        parts = line.split("\t", len(FIELDS) - 1)
        if len(parts) != len(FIELDS):
            unreadable.append(line)
            continue
        pane = seen[line] = ObservedPane(*[parse(part) for parse, part in zip(_PARSERS, parts, strict=True)])
        panes.append(pane)
    if reuse is not None:
        reuse.clear()
        reuse.update(seen)
    if unreadable:
        return Listing(target_key, ListingStatus.INDETERMINATE, (), _unreadable_error(unreadable))
    return Listing(target_key, ListingStatus.OK, tuple(panes))


def _unreadable_error(lines: list[str]) -> str:
    sample = lines[0] if len(lines[0]) <= 120 else lines[0][:117] + "..."
    return (
        f"tmux answered, but {len(lines)} line(s) of its pane listing do not have the "
        f"{len(FIELDS)} tab-separated fields (tabs printed as '_' mean a client that does "
        f"not take its output as UTF-8): {sample!r}"
    )


def _has(text: str, markers: tuple[str, ...]) -> bool:
    return any(marker in text for marker in markers)


def ssh_failed(target_key: str, failure: SshFailure, stderr: str) -> Listing:
    """An ssh host ssh could not ask (or without tmux): never empty, whatever the words
    say (ssh's "Connection refused" is not tmux's); retried when it may pass."""
    message = f"ssh: {failure.value.replace('_', ' ')}: {stderr.strip() or 'no message'}"
    return Listing(
        target_key, ListingStatus.INDETERMINATE, (), message, transient=failure.transient, ssh_failure=failure
    )


def classify_failure(target_key: str, stderr: str, container: bool = False) -> Listing:
    """A listing that exited non-zero, told apart by its stderr (docker's first, then tmux's)."""
    lowered = stderr.lower()
    message = stderr.strip() or None
    if container:
        if _has(lowered, _DOCKER_DOWN):
            return Listing(target_key, ListingStatus.INDETERMINATE, (), message, transient=True)
        if _has(lowered, _CONTAINER_MISSING):
            return Listing(target_key, ListingStatus.EMPTY, (), message, Unavailable.CONTAINER_MISSING)
        if _has(lowered, _CONTAINER_STOPPED):
            return Listing(target_key, ListingStatus.EMPTY, (), message, Unavailable.CONTAINER_STOPPED)
        if _has(lowered, _CONTAINER_UNKNOWN):
            return Listing(target_key, ListingStatus.INDETERMINATE, (), message)
    if _has(lowered, _EMPTY_MARKERS):
        return Listing(target_key, ListingStatus.EMPTY, (), message)
    return Listing(target_key, ListingStatus.INDETERMINATE, (), message or "unknown error")
