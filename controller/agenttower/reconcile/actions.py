"""What a pass may do, as one frozen value: `Action` (a kind, the resource it acts on,
its cause, what it depends on, and the facts the executor needs).

An action renders as one line (`str(action)`: what it does, then `# cause`), the line
`diff`, `apply --dry-run`, the controller's log and the plan tests all show; a plan
renders as those lines in the order they run, then its blocked layouts and notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from agenttower.model.errors import AgentTowerError
from agenttower.model.lifecycle import Actor, Stage, State
from agenttower.model.resolved import DesiredLayout, DesiredPane

from .activity import ActivityUpdate


class Phase(IntEnum):
    """When an action of a target runs: marks first (what was seen), creations before
    relayouts, removals last (prune last: a renamed layout never leaves you without
    agents while it runs). Actions of one phase run as one batch where tmux allows."""

    MARK = 0
    SETTLE = 1
    UPDATE = 2
    HOLD = 3
    RECOVER = 4
    CREATE = 5
    RELAYOUT = 6
    REMOVE = 7
    INPUT = 8  # last: text goes to agents that are up, after everything else of the pass


class Kind(StrEnum):
    """Every action a pass can plan."""

    MARK_PANE = "mark_pane"  # a state change seen from outside: exited, vanished, swept
    RECORD_SESSION = "record_session"  # the agent reported its own conversation id: keep it
    SETTLE_PANE = "settle_pane"  # a ready pane still carrying its pending marker: clear it
    UPDATE_LAYOUT = "update_layout"  # record a new desired spec (generation + 1)
    HOLD_RESTART = "hold_restart"  # a restart back-off holds: record when it is due, announce it once
    HOLD_CRASH_LOOP = "hold_crash_loop"  # the same failure twice in a row: no restart until the operator acts
    RECOVER_LAYOUT = "recover_layout"  # first pass after a start: surviving panes found again
    CREATE_LAYOUT = "create_layout"  # a new session with all its panes
    CREATE_PANE = "create_pane"  # a new record for one slot (added, restarted, recreated)
    RESUME_PANE = "resume_pane"  # finish the pipeline of a record an interrupted pass left
    RELAYOUT = "relayout"  # the window's tmux layout, in place
    REMOVE_PANE = "remove_pane"  # kill the pane and what it started; the record becomes removed
    SEND_INPUT = "send_input"  # type a slot's initialInput, once

    @property
    def phase(self) -> Phase:
        return _PHASES[self]


_PHASES = {
    Kind.MARK_PANE: Phase.MARK,
    Kind.RECORD_SESSION: Phase.MARK,
    Kind.SETTLE_PANE: Phase.SETTLE,
    Kind.UPDATE_LAYOUT: Phase.UPDATE,
    Kind.HOLD_RESTART: Phase.HOLD,
    Kind.HOLD_CRASH_LOOP: Phase.HOLD,
    Kind.RECOVER_LAYOUT: Phase.RECOVER,
    Kind.CREATE_LAYOUT: Phase.CREATE,
    Kind.CREATE_PANE: Phase.CREATE,
    Kind.RESUME_PANE: Phase.CREATE,
    Kind.RELAYOUT: Phase.RELAYOUT,
    Kind.REMOVE_PANE: Phase.REMOVE,
    Kind.SEND_INPUT: Phase.INPUT,
}


@dataclass(frozen=True)
class Resource:
    """What an action acts on: a layout, or one slot of it (`label`), on a target. `id`
    is the record acted on (a pane record for a slot, a layout record for a layout);
    None for a layout not recorded yet."""

    target: str
    layout: str
    label: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        return self.layout if self.label is None else f"{self.layout}/{self.label}"


@dataclass(frozen=True)
class Spawn:
    """A creation's facts: the layout's spec (and record), the panes to spawn and where.
    A successor names the record it follows (`predecessor_id`, removed first when it
    `replaces` it) and the dead or outdated tmux pane it reuses in place (`respawn`)."""

    layout: DesiredLayout
    layout_id: str | None  # None: the layout is created with it
    panes: tuple[DesiredPane, ...]
    anchor: str | None = None  # tmux pane id to split from; None: the session is gone
    tmux_pane_id: str | None = None  # a resumed record's pane, already spawned
    predecessor_id: str | None = None
    chain_depth: int = 0
    restarts_in_a_row: int = 0  # for the new record: a restart by policy counts one more
    replaces: str | None = None
    respawn: str | None = None
    removed_by: Actor = Actor.CONTROLLER  # who removes what it replaces (an operator's `restart`)
    conversation: Conversation | None = None  # None: a new slot's new conversation, by `command`


@dataclass(frozen=True)
class Conversation:
    """Which conversation a successor carries on (reconcile/conversations.py decides):
    the slot's id, kept (None: a new one), the agent's own id, and the id to run
    `resume` with (None: `command`). `fell_back`: the predecessor's resume exited at
    once, so this one runs `command`, and says so."""

    session_id: str | None = None
    agent_session_id: str | None = None
    resume_id: str | None = None
    fell_back: bool = False


@dataclass(frozen=True)
class Mark:
    state: State
    stage: Stage | None  # None: a move to `ready` (the readiness probe matched)
    exit_code: int | None = None
    exit_signal: int | None = None
    tmux_pane_id: str | None = None  # an exited pane's: its screen is read for its last output


@dataclass(frozen=True)
class Removal:
    tmux_pane_id: str | None  # None or not observed: already gone, nothing to kill
    removed_by: Actor = Actor.CONTROLLER


@dataclass(frozen=True)
class Settle:
    tmux_pane_id: str


@dataclass(frozen=True)
class Hold:
    next_restart_at: str  # RFC 3339, as stored: the planner compares the record with it
    restarts_in_a_row: int  # restarts already made since the slot last ran stably
    delay_ms: int


@dataclass(frozen=True)
class Input:
    tmux_pane_id: str
    text: str


@dataclass(frozen=True)
class CrashHold:
    reason: str
    exit_code: int
    last_line: str


@dataclass(frozen=True)
class Layout:
    """A layout-level change: the spec to record, or the tmux layout to select."""

    spec: DesiredLayout | None = None
    anchor: str | None = None
    tmux_layout: str | None = None


@dataclass(frozen=True)
class Recovery:
    pane_ids: tuple[str, ...]


@dataclass(frozen=True)
class AgentSession:
    agent_session_id: str  # what the agent's hooks set on its pane (@agenttower_agent_session)


Detail = Spawn | Mark | Removal | Settle | Hold | CrashHold | Input | Layout | Recovery | AgentSession


@dataclass(frozen=True)
class Action:
    kind: Kind
    resource: Resource
    cause: str
    detail: Detail
    depends_on: tuple[Resource, ...] = ()  # what must be done first (a successor: its predecessor)

    @property
    def target_key(self) -> str:
        return self.resource.target

    @property
    def phase(self) -> Phase:
        return self.kind.phase

    def describe(self) -> str:
        """What the action does, in words (`diff` prints it before the cause)."""
        d, name = self.detail, str(self.resource)
        if isinstance(d, Spawn) and self.kind is Kind.CREATE_LAYOUT:
            labels = ", ".join(p.label for p in d.panes)
            return f"create layout {name} ({labels}) in session {d.layout.session}"
        if isinstance(d, Spawn) and self.kind is Kind.RESUME_PANE:
            return f"{'finish creating' if d.tmux_pane_id else 'spawn'} pane {name}"
        if isinstance(d, Mark):
            return f"mark pane {name} {d.state}" + (f" ({d.stage})" if d.stage else "")
        if isinstance(d, Hold):
            return f"hold restart of {name} until {d.next_restart_at}"
        if isinstance(d, CrashHold):
            return f"hold restarts of {name} (crash loop)"
        if isinstance(d, Input):
            return f"type the initial input of {name} ({len(d.text)} characters)"
        if isinstance(d, Layout) and self.kind is Kind.RELAYOUT:
            return f"relayout {name} as {d.tmux_layout}"
        if isinstance(d, Recovery):
            return f"re-attach {name} ({len(d.pane_ids)} panes)"
        if isinstance(d, AgentSession):
            return f"record agent session {d.agent_session_id} of {name}"
        talk = d.conversation if isinstance(d, Spawn) else None
        if talk is not None and talk.resume_id:
            return f"create pane {name} resuming {talk.resume_id}"
        if talk is not None and talk.fell_back:
            return f"create pane {name} with its command (resume exited at once)"
        return {
            Kind.CREATE_PANE: "create pane {}",
            Kind.REMOVE_PANE: "remove pane {}",
            Kind.UPDATE_LAYOUT: "configure layout {}",
            Kind.SETTLE_PANE: "clear pending marker of {}",
        }[self.kind].format(name)

    def __str__(self) -> str:
        return f"{self.describe()}  # {self.cause}"

    def to_wire(self) -> dict[str, str]:
        """The row `diff -o json` and `apply --dry-run -o json` show."""
        return {"action": self.describe(), "target": self.target_key, "cause": self.cause}


@dataclass(frozen=True)
class Blocked:
    """A desired layout the pass cannot act on, and why (a closed-set error)."""

    layout: str
    error: AgentTowerError


class NoteKind(StrEnum):
    """What a note stands for, so its readers (conditions, the controller) never parse
    its message."""

    INFO = "info"
    BACKOFF = "backoff"  # a restart by policy waits for its back-off
    RESTART_LIMIT = "restart_limit"  # a pane restarted too often in a row: no more restarts
    CRASH_LOOP = "crash_loop"  # the same failure twice in a row: no restart until the operator acts
    WAVE = "wave"  # a restart left for the next recovery wave (the next pass)
    OUTDATED = "outdated"  # the spec changed under updateStrategy OnDelete: kept running
    SUSPENDED = "suspended"  # spec.suspend: no actions
    WAITS = "waits"  # the target cannot take panes now: the creation waits
    UNREACHABLE = "unreachable"  # the target did not answer: nothing is planned there
    KEPT = "kept"  # a guard kept a layout its manifest no longer names
    AMBIGUOUS = "ambiguous"  # two tmux panes pass as one record: both are left alone
    OUTSIDE = "outside"  # another host's layout (the target-host selection): left alone here


@dataclass(frozen=True)
class Note:
    """Something `diff` and `get` should show that is not an action (e.g. outdated).
    About a slot (`layout` and `label`), a layout, or the whole pass (neither)."""

    layout: str | None
    message: str
    kind: NoteKind = NoteKind.INFO
    label: str | None = None
    until: datetime | None = None  # a back-off: when the restart is due

    @property
    def name(self) -> str:
        if self.layout is None:
            return "*"
        return self.layout if self.label is None else f"{self.layout}/{self.label}"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()  # in the order they run
    blocked: tuple[Blocked, ...] = ()
    notes: tuple[Note, ...] = ()
    requeue_at: datetime | None = None  # the earliest back-off that ends: plan again then
    activity: tuple[ActivityUpdate, ...] = ()  # what agents do now: recorded after the actions

    def __bool__(self) -> bool:
        return bool(self.actions)

    def __str__(self) -> str:
        """The whole plan as text: `+` an action, `!` a blocked layout, `~` a note."""
        lines = [f"+ {a}" for a in self.actions]
        lines += [f"! {b.layout}: {b.error.code}: {b.error.message}" for b in self.blocked]
        lines += [f"~ {n}" for n in self.notes]
        return "\n".join(lines)

    def of_layout(self, name: str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.resource.layout == name)
