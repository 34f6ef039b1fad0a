"""Every knob of agenttower, as one frozen value made of documented groups.

Read once from the environment (`Settings.from_env()`), then passed down: the planner
reads the groups it decides on, the executor and the controller the rest, so a test
shortens a probe or a back-off by building a value, never by patching a constant.
Each `AGENTTOWER_*` variable keeps its meaning and default (docs/cli.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from agenttower.model.durations import parse_duration
from agenttower.model.errors import validation_failed


@dataclass(frozen=True)
class TmuxSettings:
    """How tmux is run: which binary, how long one call may take, how a launch is probed."""

    binary: str = "tmux"  # AGENTTOWER_TMUX
    stage_timeout: float = 30.0  # AGENTTOWER_STAGE_TIMEOUT: one tmux (or docker exec) call
    probe_delay: float = 1.0  # AGENTTOWER_PROBE_DELAY: a new pane's process must outlive this
    read_timeout: float = 10.0  # read verbs show a hung target as stale rather than wait
    retry_waits: tuple[float, ...] = (1.0, 2.0)  # a call that timed out is tried again after these


@dataclass(frozen=True)
class PaneSettings:
    """What a pass may create and how long a creation or a removal may take."""

    capacity: int = 40  # live layouts at most (FEAT-013's layout_capacity_exceeded)
    creating_ttl: timedelta = timedelta(minutes=5)  # a pane still `creating` after this fails
    chain_limit: int = 16  # recreates in a row (FEAT-013's recreate_chain_too_deep)
    kill_grace: float = 5.0  # AGENTTOWER_KILL_GRACE: between TERM and KILL for what a pane left


@dataclass(frozen=True)
class RestartSettings:
    """Restarts by policy: kubelet's CrashLoopBackOff shape, and recovery in waves."""

    backoff_base: timedelta = timedelta(seconds=10)  # AGENTTOWER_BACKOFF_BASE: doubles per restart in a row
    backoff_max: timedelta = timedelta(minutes=5)  # AGENTTOWER_BACKOFF_MAX
    stable_after: timedelta = timedelta(
        minutes=10
    )  # AGENTTOWER_STABLE_AFTER: ready this long resets the count
    recovery_wave: int = 10  # AGENTTOWER_RECOVERY_WAVE: restarts by policy per pass
    recovery_jitter: float = 0.5  # AGENTTOWER_RECOVERY_JITTER: up to this much more between two waves


@dataclass(frozen=True)
class LoopSettings:
    """The controller's timing between passes, and what a pass may prune."""

    after_actions: float = 0.5  # a pass that acted is followed this soon (mark, then restart)
    after_failure: float = 5.0  # a pass that raised is tried again this soon
    # a target that cannot take panes and that no listener hears (the docker engine is
    # down, the container stopped, the ssh host unreachable) is looked at again this
    # soon, doubling per pass that still finds it so, up to the resync
    relook_first: float = 1.0
    allow_empty: bool = False  # `--allow-empty`: a pass may prune every layout
    # AGENTTOWER_TARGET_HOST / `--target-host`: this reconciler is that host; it takes only
    # the layouts whose target.host is it (run here) or unset (reconcile/selection.py)
    target_host: str | None = None


@dataclass(frozen=True)
class VerbSettings:
    """One deadline per CLI verb, and how the state dir is taken."""

    timeout: float = 120.0  # AGENTTOWER_TIMEOUT: lock, pass and --wait together; --timeout overrides
    lock_timeout: float = 120.0  # waiting for another reconciler's lock
    wait_without_deadline: float = 120.0  # `--wait` in a session that has no deadline (a test's)
    fresh_state: bool = (
        False  # AGENTTOWER_FRESH_STATE: a new database although tmux runs an older one's panes
    )


@dataclass(frozen=True)
class AgentSettings:
    """How agents are watched: what their screens say where their hooks cannot."""

    screen_period: float = 3.0  # AGENTTOWER_SCREEN_PERIOD: one capture batch per target this often


@dataclass(frozen=True)
class SendSettings:
    """How `send` types into a pane: the pause before Enter, how long to watch for it."""

    # AGENTTOWER_SEND_ENTER_DELAY: Codex reads an Enter within ~120 ms of a paste as text
    enter_delay: float = 0.2
    confirm_within: float = 3.0  # AGENTTOWER_SEND_CONFIRM: the screen must change within this
    max_chars: int = 1_000_000  # a longer text is refused before anything is typed
    # AGENTTOWER_INITIAL_INPUT_DELAY: a slot's initialInput waits until it has been ready this long
    initial_delay: timedelta = timedelta(seconds=1)


@dataclass(frozen=True)
class NotifySettings:
    """The program the controller runs, event JSON on stdin, when an agent needs someone."""

    argv: tuple[str, ...] = ()  # AGENTTOWER_NOTIFY (a layout's spec.notify wins): JSON list or words
    timeout: float = 10.0  # AGENTTOWER_NOTIFY_TIMEOUT: then it is killed
    waiting_grace: float = 30.0  # AGENTTOWER_NOTIFY_WAITING_GRACE: `waiting` this long first


@dataclass(frozen=True)
class LogSettings:
    """How big a pane's log may grow before a pass rotates it, and how many old files stay."""

    # AGENTTOWER_LOG_MAX_BYTES: a log past this is rotated. 5 MiB: `logs` renders one in
    # about 10 s here (benchmarks/pane_logs.py), and a busy agent writes ~70 MB a day
    max_bytes: int = 5 * 1024 * 1024
    keep: int = 4  # AGENTTOWER_LOG_KEEP: rotated files kept beside it (<label>.log.1 newest)
    # a controller passing every second looks at its logs' sizes this often, not every pass
    # (1,000 stats were a tenth of a no-op pass); a log is still rotated within this of its cap
    check_every: float = 5.0
    # AGENTTOWER_LOG_REMOTE_EVERY: a controller rotates the logs on an ssh host (or in a
    # container there) this often, one ssh call per host: a pass there is otherwise one
    # call, so the check does not ride on every pass; a CLI verb's one pass never does it
    remote_check_every: float = 60.0


@dataclass(frozen=True)
class Settings:
    tmux: TmuxSettings = field(default_factory=TmuxSettings)
    panes: PaneSettings = field(default_factory=PaneSettings)
    restarts: RestartSettings = field(default_factory=RestartSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    verbs: VerbSettings = field(default_factory=VerbSettings)
    agents: AgentSettings = field(default_factory=AgentSettings)
    send: SendSettings = field(default_factory=SendSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    logs: LogSettings = field(default_factory=LogSettings)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            tmux=TmuxSettings(
                binary=os.environ.get("AGENTTOWER_TMUX", "tmux"),
                stage_timeout=_seconds("AGENTTOWER_STAGE_TIMEOUT", "30s"),
                probe_delay=_seconds("AGENTTOWER_PROBE_DELAY", "1s"),
            ),
            panes=PaneSettings(kill_grace=_seconds("AGENTTOWER_KILL_GRACE", "5s")),
            restarts=RestartSettings(
                backoff_base=timedelta(seconds=_seconds("AGENTTOWER_BACKOFF_BASE", "10s")),
                backoff_max=timedelta(seconds=_seconds("AGENTTOWER_BACKOFF_MAX", "5m")),
                stable_after=timedelta(seconds=_seconds("AGENTTOWER_STABLE_AFTER", "10m")),
                recovery_wave=_count("AGENTTOWER_RECOVERY_WAVE", "10"),
                recovery_jitter=_seconds("AGENTTOWER_RECOVERY_JITTER", "500ms"),
            ),
            loop=LoopSettings(target_host=target_host(os.environ.get("AGENTTOWER_TARGET_HOST") or None)),
            verbs=VerbSettings(
                timeout=_seconds("AGENTTOWER_TIMEOUT", "120s"),
                fresh_state=os.environ.get("AGENTTOWER_FRESH_STATE", "") not in ("", "0"),
            ),
            agents=AgentSettings(screen_period=_seconds("AGENTTOWER_SCREEN_PERIOD", "3s")),
            send=SendSettings(
                enter_delay=_seconds("AGENTTOWER_SEND_ENTER_DELAY", "200ms"),
                confirm_within=_seconds("AGENTTOWER_SEND_CONFIRM", "3s"),
                initial_delay=timedelta(seconds=_seconds("AGENTTOWER_INITIAL_INPUT_DELAY", "1s")),
            ),
            notify=NotifySettings(
                argv=_argv("AGENTTOWER_NOTIFY"),
                timeout=_seconds("AGENTTOWER_NOTIFY_TIMEOUT", "10s"),
                waiting_grace=_seconds("AGENTTOWER_NOTIFY_WAITING_GRACE", "30s"),
            ),
            logs=LogSettings(
                max_bytes=_count("AGENTTOWER_LOG_MAX_BYTES", str(5 * 1024 * 1024)),
                keep=_count("AGENTTOWER_LOG_KEEP", "4", minimum=0),
                remote_check_every=_seconds("AGENTTOWER_LOG_REMOTE_EVERY", "60s"),
            ),
        )


def target_host(name: str | None, what: str = "AGENTTOWER_TARGET_HOST") -> str | None:
    """A target-host selector, checked as `spec.target.host` is (it is compared with it)."""
    from agenttower.model.identifiers import SSH_HOST_RE, what_rule

    if name is not None and SSH_HOST_RE.fullmatch(name) is None:
        raise validation_failed(what, f"{name!r} is not {what_rule(SSH_HOST_RE)}")
    return name


def _seconds(variable: str, default: str) -> float:
    try:
        return parse_duration(os.environ.get(variable, default))
    except ValueError as exc:
        raise validation_failed(variable, str(exc)) from None


def _argv(variable: str) -> tuple[str, ...]:
    """A command: a JSON list of strings (`["notify-send", "agenttower"]`), else shell words."""
    import json
    import shlex

    text = os.environ.get(variable, "").strip()
    if not text:
        return ()
    try:
        value = json.loads(text) if text.startswith("[") else shlex.split(text)
    except ValueError as exc:
        raise validation_failed(variable, f"not a JSON list or shell words: {exc}") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise validation_failed(variable, "must be a non-empty list of strings")
    return tuple(value)


def _count(variable: str, default: str, minimum: int = 1) -> int:
    text = os.environ.get(variable, default)
    if not text.isdigit() or int(text) < minimum:
        raise validation_failed(variable, f"{text!r} is not a whole number of at least {minimum}")
    return int(text)
