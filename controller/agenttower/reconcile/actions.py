"""What a pass may do, as frozen values: each action carries the cause `diff` prints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from agenttower.model.errors import AgentTowerError
from agenttower.model.resolved import DesiredLayout, DesiredPane


@dataclass(frozen=True)
class CreateLayout:
    layout: DesiredLayout
    cause: str = "layout missing"

    @property
    def target_key(self) -> str:
        return self.layout.target.key

    def describe(self) -> str:
        labels = ", ".join(p.label for p in self.layout.panes)
        return f"create layout {self.layout.name} ({labels}) in session {self.layout.session}"


@dataclass(frozen=True)
class CreatePane:
    """A new record for a slot of an existing layout: a slot added, a restart by policy
    or a spec change under `Recreate` (then `replaces` is removed first, and a dead or
    outdated tmux pane `respawn` is reused in place so the layout does not shift)."""

    layout: DesiredLayout
    layout_id: str
    pane: DesiredPane
    anchor: str | None  # tmux pane id to split from; None: the session is gone
    cause: str
    predecessor_id: str | None = None
    chain_depth: int = 0
    restarts_in_a_row: int = 0  # for the new record: a restart by policy counts one more
    replaces: str | None = None
    respawn: str | None = None

    @property
    def target_key(self) -> str:
        return self.layout.target.key

    def describe(self) -> str:
        return f"create pane {self.layout.name}/{self.pane.label}"


@dataclass(frozen=True)
class ResumePane:
    """A record left `creating` by an interrupted pass: finish its pipeline."""

    layout: DesiredLayout
    layout_id: str
    pane_id: str
    label: str
    tmux_pane_id: str | None  # None: never spawned, spawn it now under the same record
    anchor: str | None
    cause: str

    @property
    def target_key(self) -> str:
        return self.layout.target.key

    def describe(self) -> str:
        what = "finish creating" if self.tmux_pane_id else "spawn"
        return f"{what} pane {self.layout.name}/{self.label}"


@dataclass(frozen=True)
class MarkPane:
    """A state change seen from outside (process exited, pane vanished, TTL sweep)."""

    pane_id: str
    name: str
    target_key: str
    state: str
    stage: str
    cause: str
    exit_code: int | None = None
    exit_signal: int | None = None

    def describe(self) -> str:
        return f"mark pane {self.name} {self.state} ({self.stage})"


@dataclass(frozen=True)
class RemovePane:
    pane_id: str
    name: str
    target_key: str
    tmux_pane_id: str | None  # None or not observed: already gone, nothing to kill
    cause: str
    removed_by: str = "controller"

    def describe(self) -> str:
        return f"remove pane {self.name}"


@dataclass(frozen=True)
class UpdateLayout:
    """The desired spec changed: record it (generation + 1); tmux changes come as other actions."""

    layout_id: str
    layout: DesiredLayout
    cause: str = "spec changed"

    @property
    def target_key(self) -> str:
        return self.layout.target.key

    def describe(self) -> str:
        return f"configure layout {self.layout.name}"


@dataclass(frozen=True)
class Relayout:
    """A cosmetic change applied in place: the tmux layout of the window."""

    name: str
    target_key: str
    anchor: str
    tmux_layout: str
    cause: str = "tmuxLayout changed"

    def describe(self) -> str:
        return f"relayout {self.name} as {self.tmux_layout}"


@dataclass(frozen=True)
class Recovered:
    """First pass after a start: the layout's surviving panes were found again."""

    layout_id: str
    name: str
    target_key: str
    pane_ids: tuple[str, ...]
    cause: str = "recovery"

    def describe(self) -> str:
        return f"re-attach {self.name} ({len(self.pane_ids)} panes)"


@dataclass(frozen=True)
class SettlePane:
    """A ready pane still carrying its pending marker (a settle batch was lost): clear it."""

    pane_id: str
    name: str
    target_key: str
    tmux_pane_id: str
    label: str
    cause: str = "pending marker left set"

    def describe(self) -> str:
        return f"clear pending marker of {self.name}"


@dataclass(frozen=True)
class HoldRestart:
    """A restart by policy that back-off holds, not yet on the record: record when it is
    due and announce it once (the planner does not plan it again while the record shows it)."""

    pane_id: str
    name: str
    target_key: str
    next_restart_at: str  # RFC 3339, as stored: the planner compares the record with it
    restarts_in_a_row: int  # restarts already made since the slot last ran stably
    delay_ms: int
    cause: str = "back-off"

    def describe(self) -> str:
        return f"hold restart of {self.name} until {self.next_restart_at}"


Action = (
    SettlePane
    | HoldRestart
    | CreateLayout
    | CreatePane
    | ResumePane
    | MarkPane
    | RemovePane
    | UpdateLayout
    | Relayout
    | Recovered
)


@dataclass(frozen=True)
class Blocked:
    """A desired layout the pass cannot act on, and why (a closed-set error)."""

    layout: str
    error: AgentTowerError


class NoteKind(StrEnum):
    """What a note stands for, so its readers (conditions) never parse its message."""

    INFO = "info"
    BACKOFF = "backoff"  # a restart by policy waits for its back-off
    RESTART_LIMIT = "restart_limit"  # a pane restarted too often in a row: no more restarts
    WAVE = "wave"  # a restart left for the next recovery wave (the next pass)


@dataclass(frozen=True)
class Note:
    """Something `diff` and `get` should show that is not an action (e.g. outdated)."""

    name: str
    message: str
    kind: NoteKind = NoteKind.INFO


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    notes: tuple[Note, ...] = ()
    requeue_at: datetime | None = None  # the earliest back-off that ends: plan again then

    def __bool__(self) -> bool:
        return bool(self.actions)
