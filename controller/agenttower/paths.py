"""Where agenttower keeps things: XDG paths under `opensoft/agenttower`, built explicitly.

platformdirs drops the `opensoft` part on Linux and is not XDG on macOS, so the paths
are computed here from `$XDG_STATE_HOME`/`$XDG_CONFIG_HOME` with the usual fallbacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = Path("opensoft") / "agenttower"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def default_state_dir() -> Path:
    explicit = os.environ.get("AGENTTOWER_STATE_DIR")
    return Path(explicit) if explicit else _xdg("XDG_STATE_HOME", ".local/state") / APP


def default_desired_dir() -> Path:
    explicit = os.environ.get("AGENTTOWER_DESIRED_DIR")
    return Path(explicit) if explicit else config_dir() / "desired"


@dataclass(frozen=True)
class Paths:
    state_dir: Path
    desired_dir: Path
    config_dir: Path

    @classmethod
    def resolve(cls, state_dir: Path | None = None, desired_dir: Path | None = None) -> Paths:
        return cls(
            state_dir=state_dir or default_state_dir(),
            desired_dir=desired_dir or default_desired_dir(),
            config_dir=config_dir(),
        )

    @property
    def database(self) -> Path:
        return self.state_dir / "agenttower.sqlite3"

    @property
    def audit_file(self) -> Path:
        return self.state_dir / "events.jsonl"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "agenttower.lock"

    @property
    def socket(self) -> Path:
        return self.state_dir / "agenttowerd.sock"

    @property
    def legacy_templates_dir(self) -> Path:
        return self.config_dir / "managed_templates"

    @property
    def legacy_profiles_dir(self) -> Path:
        return self.config_dir / "launch_commands"

    def ensure_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
