"""Building the lines of a `source-file` batch: one line per pane, nothing shared.

Each line creates one pane and, in the same tmux command sequence, tags it
(`@agenttower_*`), sets `remain-on-exit` (too late in a later invocation for a command
that exits at once), sets the pending title and starts its log pipe. A line that fails
skips only itself, so one pane's failure never stops its siblings. After
`split-window` without `-d` the implicit target is the new pane; the first pane of a
new session is targeted as `=session:`, which holds exactly that one pane.
"""

from __future__ import annotations

import functools
import os
import pwd
from dataclasses import dataclass

from agenttower.model.agents import ACTIVITY_OPTION, AGENT_SESSION_OPTION
from agenttower.model.environment import HOST_PATH

from .quoting import command_line, format_literal, pipe_to_file, quote

PANE_OPTION = "@agenttower_pane"
OWNER_OPTION = "@agenttower_owner"
PENDING_OPTION = "@agenttower_pending"
SPEC_OPTION = "@agenttower_spec"


# The launch wrapper: a fixed script of ours (user values arrive only as its arguments,
# never parsed by a shell). It reads what only the pane knows at start (HOME, the user,
# tmux's SHELL/TERM/TMUX/TMUX_PANE), changes to the working dir (tmux's `-c` falls back
# silently when it is missing; `cd` fails loudly, and the pane exits 126), then `env -i`
# starts the command with exactly that base plus agenttower's assignments, which win.
# PATH: on the host the documented default (tmux would otherwise give the pane the
# applying client's PATH, whatever `-e` says); in a container the container's own.
# The user is `id -un` (a fork and an exec per pane) unless agenttower names the user it
# runs as with a path that user owns, and the pane's effective uid owns that path too
# (`test -O`, a shell builtin): then the pane runs as that very user. A host server
# agenttower can talk to runs as its user (tmux refuses other users' clients), or
# agenttower is root, where `-O` tells the two apart; a container's user is asked.
LAUNCH_SCRIPT = (
    "d=$1 p=$2 u=$3 o=$4; shift 4; "
    f'[ "$p" = host ] && PATH="{HOST_PATH}"; '
    'cd -- "${d:-${HOME:-/}}" || exit 126; '
    '[ -n "$u" ] && [ -O "$o" ] || u=$(id -un 2>/dev/null || id -u); '
    'exec env -i HOME="$HOME" USER="$u" LOGNAME="$u" SHELL="$SHELL" TERM="$TERM" '
    'TMUX="$TMUX" TMUX_PANE="$TMUX_PANE" PATH="$PATH" PWD="$PWD" "$@"'
)
LOGIN_SHELL = ("sh", "-c", 'exec "$SHELL" -l')  # the `shell` profile: tmux's default-shell
EXEC_ARGV = ("sh", "-c", 'exec "$@"', "sh")  # `env` would read a first word with `=` as a variable


@dataclass(frozen=True)
class PaneSpawn:
    record_id: str
    owner: str
    token: str
    spec_hash: str
    label: str
    command: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...] = ()  # every assignment, in order (model/environment.py)
    working_dir: str | None = None
    host_path: bool = True  # the documented host PATH as base, else the container's own
    log_path: str | None = None  # as the tmux server sees it (inside the container, for one)
    log_make_dir: bool = False  # create the log's directory in the pipe (container targets)
    log_header: str | None = None  # this run's first line in the log (model/log_header.py)
    user: str = ""  # who agenttower runs as, and a path it owns (LAUNCH_SCRIPT); "": ask `id`
    owned_path: str = ""

    def argv(self) -> list[str]:
        """tmux execs this argv directly (`--` ends its options); no shell parses a user value."""
        command = self.command if self.command is not None else LOGIN_SHELL
        if "=" in command[0]:
            command = (*EXEC_ARGV, *command)
        base = "host" if self.host_path else "target"
        assigned = [f"{key}={value}" for key, value in self.env]
        wrapper = ["sh", "-c", LAUNCH_SCRIPT, "agenttower-launch", self.working_dir or "", base]
        wrapper += [self.user, self.owned_path]
        return ["--", *wrapper, *assigned, *command]


@functools.cache
def running_user() -> str:
    """The name of the effective user this process runs as ("" when it has none)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return ""


def _tag(spawn: PaneSpawn, target: list[str]) -> list[list[str]]:
    commands = [
        ["set-option", "-p", *target, PANE_OPTION, spawn.record_id],
        ["set-option", "-p", *target, OWNER_OPTION, spawn.owner],
        ["set-option", "-p", *target, PENDING_OPTION, spawn.token],
        ["set-option", "-p", *target, SPEC_OPTION, spawn.spec_hash],
        ["set-option", "-p", *target, "remain-on-exit", "on"],
        ["set-option", "-p", *target, "-u", ACTIVITY_OPTION],  # a respawned pane's was its predecessor's
        ["select-pane", *target, "-T", format_literal(f"@MANAGED:{spawn.token}:{spawn.label}")],
    ]
    if spawn.log_path is not None:
        pipe = pipe_to_file(spawn.log_path, spawn.log_make_dir, spawn.log_header)
        commands.append(["pipe-pane", *target, pipe])
    return commands


SESSION_OPTION = "@agenttower_session"


def new_session_line(session: str, spawn: PaneSpawn, owner_token: str) -> str:
    """The first pane of a new session; the session is tagged with `owner_token` so the
    other panes' lines can check it is still this session before splitting into it."""
    create = [
        "new-session",
        "-d",
        "-s",
        format_literal(session),
        "-x",
        "200",
        "-y",
        "60",
        *spawn.argv(),
    ]
    tag_session = ["set-option", "-t", f"={session}:", SESSION_OPTION, owner_token]
    return command_line(create, tag_session, *_tag(spawn, ["-t", f"={session}:"]))


def guarded_split_line(session: str, spawn: PaneSpawn, owner_token: str) -> str:
    """Split into `session` only if it carries `owner_token`: if another client took the
    name (or new-session failed), the pane is not created rather than landing in a
    foreign session. `if-shell -F` evaluates a format, no shell is involved."""
    target = f"={session}:"
    condition = "#{==:#{" + SESSION_OPTION + "}," + format_literal(owner_token) + "}"
    inner = split_line(target, spawn)
    return f"if-shell -F -t {quote(target)} {quote(condition)} {{ {inner} }}"


def probe_lines(delay: float, listing_format: str) -> list[str]:
    """The launch probe inside the same invocation: wait, then list every pane."""
    wait = [command_line(["run-shell", f"sleep {delay:.3f}"])] if delay > 0 else []
    return [*wait, command_line(["list-panes", "-a", "-F", listing_format])]


def split_line(anchor: str, spawn: PaneSpawn) -> str:
    """Split `anchor` (`=session:` or `%id`) and re-tile so the next split has room."""
    create = [
        "split-window",
        "-t",
        anchor,
        *spawn.argv(),
    ]
    return command_line(create, *_tag(spawn, []), ["select-layout", "tiled"])


def respawn_line(tmux_pane_id: str, spawn: PaneSpawn) -> str:
    """Reuse a dead (or outdated) pane in place, so the window's layout does not shift;
    `-k` kills what still runs there. Tags move to the successor's record, and what the
    last agent reported of itself is dropped (a pane's options outlive its process). The
    screen and history of the run before are cleared first (`send-keys -R` resets tmux's
    own terminal state, it types nothing): a respawned pane keeps them otherwise, and
    what the successor prints before it exits would be read with its predecessor's lines."""
    target = ["-t", tmux_pane_id]
    create = ["respawn-pane", "-k", *target, *spawn.argv()]
    fresh = [["send-keys", "-R", *target], ["clear-history", *target]]
    forget = ["set-option", "-p", *target, "-u", AGENT_SESSION_OPTION]
    return command_line(*fresh, create, forget, *_tag(spawn, target))


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
