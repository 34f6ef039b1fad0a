"""The environment a managed pane starts with, defined here and nowhere else.

A pane gets exactly: a documented base, then the profile's `env` (which wins, PATH
included), then the pane's identity (which wins over both, so scripts and hooks inside
the pane can trust it). Nothing of the process that ran `apply` reaches the pane (no
VIRTUAL_ENV, PS1, `_` or stale PWD), so a manifest behaves the same whether a terminal,
the controller or systemd applied it; and nothing of one pane reaches another, because
no variable goes through tmux's session environment (`new-session -e` would put it
there). The launch wrapper (`runtime/batch.py`) starts the command with `env -i` and
these assignments; the base values that only the target can know (HOME, the user, the
shell, what tmux itself sets) are read there, inside the pane, at start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# What the base takes from the target, at the pane's start, and from where.
FROM_TARGET: tuple[tuple[str, str], ...] = (
    ("HOME", "the tmux server's HOME (docker sets it from the container user's passwd entry)"),
    ("USER", "`id -un` of the pane's process"),
    ("LOGNAME", "same as USER"),
    ("SHELL", "tmux's default-shell"),
    ("TERM", "tmux's default-terminal"),
    ("TMUX", "set by tmux: the server the pane runs in"),
    ("TMUX_PANE", "set by tmux: the pane's %id"),
    ("PWD", "the pane's working directory"),
)
HOST_PATH = "$HOME/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINER_PATH_SOURCE = "the container's own PATH (its image's ENV, as `docker exec` gives it)"
BASE_LANG = "C.UTF-8"

IDENTITY_PREFIX = "AGENTTOWER_"
PANE_ID_VARIABLE = "AGENTTOWER_PANE_ID"  # the record id: how agenttower finds the pane's processes
SESSION_ID_VARIABLE = "AGENTTOWER_SESSION_ID"  # the slot's conversation id, kept across restarts


@dataclass(frozen=True)
class PaneIdentity:
    layout: str
    label: str
    role: str
    record_id: str
    session_id: str | None = None  # None: a record made before slots had conversation ids

    def variables(self) -> tuple[tuple[str, str], ...]:
        session = ((SESSION_ID_VARIABLE, self.session_id),) if self.session_id else ()
        return (
            ("AGENTTOWER_LAYOUT", self.layout),
            ("AGENTTOWER_LABEL", self.label),
            ("AGENTTOWER_ROLE", self.role),
            ("AGENTTOWER_PANE", f"{self.layout}/{self.label}"),
            (PANE_ID_VARIABLE, self.record_id),
            *session,
        )


def assignments(
    profile_env: Iterable[tuple[str, str]], identity: PaneIdentity
) -> tuple[tuple[str, str], ...]:
    """The variables agenttower sets itself, in the order `env` applies them (later wins)."""
    merged: dict[str, str] = {"LANG": BASE_LANG}
    merged.update(profile_env)
    merged.update(identity.variables())
    return tuple(merged.items())


def describe(
    profile_env: Iterable[tuple[str, str]], identity: PaneIdentity, container: bool
) -> list[tuple[str, str]]:
    """(name, value or where it comes from) for every variable the pane starts with."""
    own = dict(assignments(profile_env, identity))
    rows = [(name, f"<{source}>") for name, source in FROM_TARGET if name not in own]
    if "PATH" not in own:
        rows.append(("PATH", f"<{CONTAINER_PATH_SOURCE}>" if container else HOST_PATH))
    rows.extend(own.items())
    return sorted(rows)
