"""The desired state after resolution: concrete panes with labels, argv and spec hashes.

These frozen dataclasses are what the planner compares with records and tmux; they
hold no pydantic and no file I/O, so planning stays pure and cheap to hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .errors import SourceLocation


@dataclass(frozen=True)
class Target:
    container: str | None = None
    user: str | None = None
    socket: str | None = None
    socket_path: str | None = None
    log_container_path: str | None = None
    log_host_path: str | None = None

    @property
    def key(self) -> str:
        """`host`, `host:<socket>` or `container:<name>`: the name records and logs use."""
        if self.container is not None:
            return f"container:{self.container}"
        if self.socket is not None:
            return f"host:{self.socket}"
        if self.socket_path is not None:
            return f"host:{self.socket_path}"
        return "host"


@dataclass(frozen=True)
class Launch:
    profile: str
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None


@dataclass(frozen=True)
class DesiredPane:
    label: str
    role: str
    capability: str
    launch: Launch
    spec_hash: str


@dataclass(frozen=True)
class DesiredLayout:
    name: str
    session: str
    target: Target
    panes: tuple[DesiredPane, ...]
    tmux_layout: str | None = None
    restart_policy: str = "Never"
    annotations: tuple[tuple[str, str], ...] = ()
    source: SourceLocation | None = None
    spec: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def pane(self, label: str) -> DesiredPane | None:
        return next((p for p in self.panes if p.label == label), None)


def spec_hash(launch: Launch, target: Target) -> str:
    """Hash of what needs a new process when it changes: argv, env, working dir, target."""
    body = json.dumps(
        {
            "command": list(launch.command) if launch.command is not None else None,
            "env": sorted(launch.env),
            "workingDir": launch.working_dir,
            "target": target.key,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]
