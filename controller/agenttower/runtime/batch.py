"""Building the lines of a `source-file` batch: one line per pane, nothing shared.

Each line creates one pane and, in the same tmux command sequence, tags it
(`@agenttower_*`), sets `remain-on-exit` (too late in a later invocation for a command
that exits at once), sets the pending title and starts its log pipe. A line that fails
skips only itself, so one pane's failure never stops its siblings. After
`split-window` without `-d` the implicit target is the new pane; the first pane of a
new session is targeted as `=session:`, which holds exactly that one pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from .quoting import command_line, format_literal, pipe_to_file

PANE_OPTION = "@agenttower_pane"
OWNER_OPTION = "@agenttower_owner"
PENDING_OPTION = "@agenttower_pending"
SPEC_OPTION = "@agenttower_spec"
CREATED_PREFIX = "agenttower-created"


@dataclass(frozen=True)
class PaneSpawn:
    record_id: str
    owner: str
    token: str
    spec_hash: str
    label: str
    command: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    log_path: str | None = None  # as the tmux server sees it (inside the container, for one)
    log_make_dir: bool = False  # create the log's directory in the pipe (container targets)

    def argv(self) -> list[str]:
        """No shell ever parses the command: tmux execs argv; `env` runs one-element
        commands (tmux would pass those to `sh -c`) and changes dir (tmux's `-c` falls
        back silently when the dir is missing; `env -C` fails loudly in the pane)."""
        if self.command is None:
            return []
        chdir = ["-C", self.working_dir] if self.working_dir else []
        return ["--", "env", *chdir, "--", *self.command]

    def created_format(self) -> str:
        return f"{CREATED_PREFIX} #{{pane_id}} {format_literal(self.record_id)}"

    def env_flags(self) -> list[str]:
        return [flag for key, value in self.env for flag in ("-e", f"{key}={value}")]


def _tag(spawn: PaneSpawn, target: list[str]) -> list[list[str]]:
    commands = [
        ["set-option", "-p", *target, PANE_OPTION, spawn.record_id],
        ["set-option", "-p", *target, OWNER_OPTION, spawn.owner],
        ["set-option", "-p", *target, PENDING_OPTION, spawn.token],
        ["set-option", "-p", *target, SPEC_OPTION, spawn.spec_hash],
        ["set-option", "-p", *target, "remain-on-exit", "on"],
        ["select-pane", *target, "-T", format_literal(f"@MANAGED:{spawn.token}:{spawn.label}")],
    ]
    if spawn.log_path is not None:
        commands.append(["pipe-pane", *target, pipe_to_file(spawn.log_path, spawn.log_make_dir)])
    return commands


def new_session_line(session: str, spawn: PaneSpawn) -> str:
    create = [
        "new-session",
        "-d",
        "-s",
        format_literal(session),
        "-x",
        "200",
        "-y",
        "60",
        *spawn.env_flags(),
        "-P",
        "-F",
        spawn.created_format(),
        *spawn.argv(),
    ]
    return command_line(create, *_tag(spawn, ["-t", f"={session}:"]))


def split_line(anchor: str, spawn: PaneSpawn) -> str:
    """Split `anchor` (`=session:` or `%id`) and re-tile so the next split has room."""
    create = [
        "split-window",
        "-t",
        anchor,
        *spawn.env_flags(),
        "-P",
        "-F",
        spawn.created_format(),
        *spawn.argv(),
    ]
    return command_line(create, *_tag(spawn, []), ["select-layout", "tiled"])


def respawn_line(tmux_pane_id: str, spawn: PaneSpawn) -> str:
    """Reuse a dead (or outdated) pane in place, so the window's layout does not shift;
    `-k` kills what still runs there. Tags move to the successor's record."""
    create = ["respawn-pane", "-k", "-t", tmux_pane_id, *spawn.env_flags(), *spawn.argv()]
    return command_line(create, *_tag(spawn, ["-t", tmux_pane_id]))


def settle_line(tmux_pane_id: str, label: str) -> str:
    """Clear the pending marker and show the label as the title."""
    return command_line(
        ["set-option", "-p", "-t", tmux_pane_id, "-u", PENDING_OPTION],
        ["select-pane", "-t", tmux_pane_id, "-T", format_literal(label)],
    )


def layout_line(tmux_pane_id: str, tmux_layout: str) -> str:
    return command_line(["select-layout", "-t", tmux_pane_id, tmux_layout])


def kill_line(tmux_pane_id: str) -> str:
    """Killing closes the log pipe too; a separate `pipe-pane` would fail on a dead pane
    and, on the same line, skip the kill."""
    return command_line(["kill-pane", "-t", tmux_pane_id])


def parse_created(stdout: str) -> dict[str, str]:
    """record id -> tmux pane id, from the `-P -F` lines a batch printed."""
    created: dict[str, str] = {}
    for line in stdout.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == CREATED_PREFIX:
            created[parts[2]] = parts[1]
    return created
