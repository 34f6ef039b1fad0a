"""A target is an exec prefix: `tmux [-L socket | -S path]` on the host.

Child processes run with `$TMUX` unset, so the host target is the user's default
server for `TMUX_TMPDIR` (or the layout's socket), never the server of the shell
agenttower happens to run in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agenttower.model.resolved import Target


@dataclass(frozen=True)
class ExecTarget:
    target: Target
    tmux_binary: str = "tmux"

    @property
    def key(self) -> str:
        return self.target.key

    def argv(self, *args: str) -> list[str]:
        prefix = [self.tmux_binary]
        if self.target.socket is not None:
            prefix += ["-L", self.target.socket]
        elif self.target.socket_path is not None:
            prefix += ["-S", self.target.socket_path]
        return [*prefix, *args]

    @staticmethod
    def environment() -> dict[str, str]:
        env = dict(os.environ)
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        return env


def host_target_for_key(key: str) -> Target:
    """Rebuild a host Target from its record key (`host`, `host:<socket>`, `host:/path`)."""
    if key == "host":
        return Target()
    _, _, rest = key.partition(":")
    return Target(socket_path=rest) if rest.startswith("/") else Target(socket=rest)
