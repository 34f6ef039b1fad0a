"""Knobs of a pass, read once from the environment so tests can shorten the probe."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from agenttower.model.durations import parse_duration


@dataclass(frozen=True)
class Settings:
    probe_delay: float = 1.0  # launch probe: the process must still be alive after this
    stage_timeout: float = 30.0
    creating_ttl: timedelta = timedelta(minutes=5)
    capacity: int = 40
    tmux_binary: str = "tmux"
    lock_timeout: float = 120.0
    backoff_base: timedelta = timedelta(seconds=10)  # CrashLoopBackOff: doubles per restart
    backoff_max: timedelta = timedelta(minutes=5)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            probe_delay=parse_duration(env.get("AGENTTOWER_PROBE_DELAY", "1s")),
            stage_timeout=parse_duration(env.get("AGENTTOWER_STAGE_TIMEOUT", "30s")),
            tmux_binary=env.get("AGENTTOWER_TMUX", "tmux"),
            backoff_base=timedelta(seconds=parse_duration(env.get("AGENTTOWER_BACKOFF_BASE", "10s"))),
            backoff_max=timedelta(seconds=parse_duration(env.get("AGENTTOWER_BACKOFF_MAX", "5m"))),
        )
