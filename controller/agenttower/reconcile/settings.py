"""Knobs of a pass, read once from the environment so tests can shorten the probe."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from agenttower.model.durations import parse_duration
from agenttower.model.errors import validation_failed


@dataclass(frozen=True)
class Settings:
    probe_delay: float = 1.0  # launch probe: the process must still be alive after this
    stage_timeout: float = 30.0
    creating_ttl: timedelta = timedelta(minutes=5)
    capacity: int = 40
    tmux_binary: str = "tmux"
    lock_timeout: float = 120.0
    backoff_base: timedelta = timedelta(seconds=10)  # CrashLoopBackOff: doubles per restart in a row
    backoff_max: timedelta = timedelta(minutes=5)
    stable_after: timedelta = timedelta(minutes=10)  # ready this long: restart at once, depth 0
    kill_grace: float = 5.0  # between TERM and KILL for what a removed pane leaves running
    recovery_wave: int = 10  # restarts by policy per pass: mass deaths come back in waves
    recovery_jitter: float = 0.5  # up to this much more between two waves (the controller)
    fresh_state: bool = False  # create a new database even though tmux runs an older one's panes
    verb_timeout: float = 120.0  # one deadline per verb (lock, pass, --wait): `--timeout` overrides

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            probe_delay=_seconds("AGENTTOWER_PROBE_DELAY", "1s"),
            stage_timeout=_seconds("AGENTTOWER_STAGE_TIMEOUT", "30s"),
            tmux_binary=os.environ.get("AGENTTOWER_TMUX", "tmux"),
            backoff_base=timedelta(seconds=_seconds("AGENTTOWER_BACKOFF_BASE", "10s")),
            backoff_max=timedelta(seconds=_seconds("AGENTTOWER_BACKOFF_MAX", "5m")),
            stable_after=timedelta(seconds=_seconds("AGENTTOWER_STABLE_AFTER", "10m")),
            kill_grace=_seconds("AGENTTOWER_KILL_GRACE", "5s"),
            recovery_wave=_count("AGENTTOWER_RECOVERY_WAVE", "10"),
            recovery_jitter=_seconds("AGENTTOWER_RECOVERY_JITTER", "500ms"),
            fresh_state=os.environ.get("AGENTTOWER_FRESH_STATE", "") not in ("", "0"),
            verb_timeout=_seconds("AGENTTOWER_TIMEOUT", "120s"),
        )


def _seconds(variable: str, default: str) -> float:
    try:
        return parse_duration(os.environ.get(variable, default))
    except ValueError as exc:
        raise validation_failed(variable, str(exc)) from None


def _count(variable: str, default: str) -> int:
    text = os.environ.get(variable, default)
    if not text.isdigit() or int(text) < 1:
        raise validation_failed(variable, f"{text!r} is not a whole number of at least 1")
    return int(text)
