"""What agenttower knows of each agent CLI: how it resumes a conversation, how it tells
us what it is doing (its hooks), and what its screens mean when it cannot (a login).

Only what the CLIs document in their own help and docs, or what their real screens
showed here offline (tests/integration/test_real_agents.py runs them), is written
down; an agent not listed is a plain process, watched through the screen rules its
profile declares. Pure data and pure functions: the hook wiring is argv and JSON,
the screen rules are regular expressions over text (rendered by tmux's own
`capture-pane`, so no terminal emulation is needed here).

The hooks report by setting pane options of the pane they run in (`tmux set -p -t
"$TMUX_PANE" ...`), which the one `list-panes` observation of a pass already reads,
and then signal agenttower's `wait-for` channel so the controller hears it at once.
That needs nothing in a container but tmux and the agent: no socket, no file, no
agenttower binary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

ACTIVITY_OPTION = "@agenttower_activity"  # working | waiting | idle, set by the hooks
AGENT_SESSION_OPTION = "@agenttower_agent_session"  # the id the agent itself reports
SESSION_PLACEHOLDER = "{sessionId}"


class Activity(StrEnum):
    """What an agent is doing, beside (not instead of) its pane's lifecycle state."""

    WORKING = "working"
    WAITING = "waiting"  # it needs the user: a permission, a login, a trust question
    IDLE = "idle"  # done, at its prompt
    UNKNOWN = "unknown"


class HookStyle(StrEnum):
    """How an agent is told to run our hooks without touching the user's own files."""

    NONE = "none"
    CLAUDE_SETTINGS = "claude-settings"  # `--settings <json>`: extra settings, hooks included
    GEMINI_DEFAULTS = "gemini-defaults"  # GEMINI_CLI_SYSTEM_DEFAULTS_PATH: the lowest settings layer
    CODEX_NOTIFY = "codex-notify"  # `-c notify=[argv]`: run after every turn, JSON as last arg


@dataclass(frozen=True)
class ScreenRule:
    """A pattern on the visible screen and what it means (first match wins)."""

    activity: Activity
    pattern: str  # a Python regular expression, searched with re.MULTILINE
    reason: str

    def matches(self, screen: str) -> bool:
        return re.search(self.pattern, screen, re.MULTILINE) is not None


@dataclass(frozen=True)
class AgentKind:
    """One agent CLI: its start and resume argv (with `{sessionId}`), its hook style,
    what its screens mean, the prompt that says it is ready, and the lines it prints
    when it cannot start at all (crash-loop sense: held, not restarted)."""

    name: str
    command: tuple[str, ...]
    resume: tuple[str, ...] | None
    hooks: HookStyle
    screen: tuple[ScreenRule, ...]
    ready: str | None = None
    fatal: tuple[str, ...] = ()


def _waiting(pattern: str, reason: str) -> ScreenRule:
    return ScreenRule(Activity.WAITING, pattern, reason)


def _working(pattern: str) -> ScreenRule:
    return ScreenRule(Activity.WORKING, pattern, "busy (screen)")


TRUST = _waiting(r"Do you trust the files in this folder\?", "trust question: do you trust this folder?")

AGENTS: dict[str, AgentKind] = {
    "claude": AgentKind(
        name="claude",
        command=("claude", "--session-id", SESSION_PLACEHOLDER),
        resume=("claude", "--resume", SESSION_PLACEHOLDER),
        hooks=HookStyle.CLAUDE_SETTINGS,
        screen=(
            TRUST,
            _waiting(r"Do you want to (proceed|make this edit|create)", "permission prompt"),
            _waiting(r"Select login method|Browser didn't open", "login screen"),
            _working(r"esc to interrupt"),
        ),
        ready=r"^\s*>|\? for shortcuts",
        fatal=(r"Unable to connect to Anthropic services", r"Invalid API key", r"Please run /login"),
    ),
    "codex": AgentKind(
        name="codex",
        command=("codex",),
        resume=("codex", "resume", SESSION_PLACEHOLDER),
        hooks=HookStyle.CODEX_NOTIFY,
        screen=(
            _waiting(r"Sign in with ChatGPT", "login screen: Sign in with ChatGPT"),
            _waiting(r"Would you like to (run|make) the following", "permission prompt"),
            TRUST,
            _working(r"esc to interrupt"),
        ),
        ready="^\\s*\u203a|Ctrl\\+J newline",
    ),
    "gemini": AgentKind(
        name="gemini",
        command=("gemini", "--session-id", SESSION_PLACEHOLDER),
        resume=("gemini", "--resume", SESSION_PLACEHOLDER),
        hooks=HookStyle.GEMINI_DEFAULTS,
        screen=(
            TRUST,
            _waiting(
                r"How would you like to authenticate", "login screen: how would you like to authenticate?"
            ),
            _waiting(r"Allow execution|Apply this change\?", "permission prompt"),
            _working(r"esc to cancel"),
        ),
        ready=r"Type your message",
    ),
    "aider": AgentKind(
        name="aider",
        command=("aider",),
        resume=("aider", "--restore-chat-history"),
        hooks=HookStyle.NONE,
        screen=(_waiting(r"\(Y\)es/\(N\)o", "question: yes or no"),),
        ready=r"^\S*> ?$",
    ),
}


def classify(screen: str, rules: tuple[ScreenRule, ...]) -> ScreenRule | None:
    """The first rule the screen matches, or None (the screen says nothing we know)."""
    return next((rule for rule in rules if rule.matches(screen)), None)


def substitute(argv: tuple[str, ...], session_id: str) -> tuple[str, ...]:
    """`{sessionId}` replaced in every argument; nothing else is interpreted."""
    return tuple(arg.replace(SESSION_PLACEHOLDER, session_id) for arg in argv)


# ----------------------------------------------------------------------------- hook wiring


def report(activity: Activity, channel: str) -> str:
    """The shell a hook runs: set this pane's activity, then wake agenttower."""
    return f'tmux set -p -t "$TMUX_PANE" {ACTIVITY_OPTION} {activity} \\; wait-for -S {channel}'


# the id an agent reports in its hook's JSON (a UUID or a plain name), read with sed:
# nothing else is installed in a container
_SED_ID = r"sed -n 's/.*\"session_id\" *: *\"\([A-Za-z0-9_.-]*\)\".*/\1/p'"


def report_session(channel: str) -> str:
    """SessionStart: the id the agent runs under now (it changes on /clear), and idle."""
    return (
        f'id="$({_SED_ID})"; tmux set -p -t "$TMUX_PANE" {AGENT_SESSION_OPTION} "$id" '
        f'\\; set -p -t "$TMUX_PANE" {ACTIVITY_OPTION} {Activity.IDLE} \\; wait-for -S {channel}'
    )


def _group(command: str, matcher: str | None = None) -> dict[str, object]:
    group: dict[str, object] = {"hooks": [{"type": "command", "command": command}]}
    if matcher is not None:
        group["matcher"] = matcher
    return group


def claude_settings(channel: str) -> str:
    """`--settings` JSON: Claude Code's own events mapped onto our activities."""
    hooks = {
        "SessionStart": [_group(report_session(channel))],
        "UserPromptSubmit": [_group(report(Activity.WORKING, channel))],
        "Notification": [_group(report(Activity.WAITING, channel), "permission_prompt")],
        "Stop": [_group(report(Activity.IDLE, channel))],
    }
    return json.dumps({"hooks": hooks}, separators=(",", ":"))


def gemini_settings(channel: str) -> str:
    """The system-defaults settings file Gemini CLI reads below the user's own."""
    hooks = {
        "SessionStart": [_group(report_session(channel))],
        "BeforeAgent": [_group(report(Activity.WORKING, channel))],
        "Notification": [_group(report(Activity.WAITING, channel), "ToolPermission")],
        "AfterAgent": [_group(report(Activity.IDLE, channel))],
    }
    return json.dumps({"hooks": hooks}, separators=(",", ":"))


def codex_notify(channel: str) -> str:
    """`-c notify=[...]`: Codex runs it after each turn with the JSON as the last
    argument (`$1` of the `sh -c` here), whose "thread-id" is the session id."""
    script = (
        'id="$(printf %s "$1" | sed -n \'s/.*"thread-id" *: *"\\([A-Za-z0-9_.-]*\\)".*/\\1/p\')"; '
        f'tmux set -p -t "$TMUX_PANE" {AGENT_SESSION_OPTION} "$id" '
        f'\\; set -p -t "$TMUX_PANE" {ACTIVITY_OPTION} {Activity.IDLE} \\; wait-for -S {channel}'
    )
    return "notify=" + json.dumps(["sh", "-c", script, "agenttower-notify"])


# Gemini CLI reads hooks from the file GEMINI_CLI_SYSTEM_DEFAULTS_PATH names (the lowest
# settings layer, below the user's own), but, being "system" settings, only when the
# file and every folder above it belong to root and are not group or world writable
# (0.61 prints "Skipping system defaults file" and ignores it otherwise). So a fixed
# script of ours, run in the pane (inside the container for one, where nothing of ours
# is installed), writes it into a fresh 0700 `mktemp -d` folder under /run when the
# pane runs as root, and otherwise starts the agent unwired (its screen still tells
# its activity). The settings travel as the script's first argument, never parsed by
# a shell, and leave the process table with the exec.
GEMINI_WRAPPER = (
    'if [ "$(id -u)" = 0 ] && d="$(mktemp -d /run/agenttower-gemini.XXXXXX 2>/dev/null)" '
    '&& printf %s "$1" > "$d/settings.json"; then '
    'GEMINI_CLI_SYSTEM_DEFAULTS_PATH="$d/settings.json"; export GEMINI_CLI_SYSTEM_DEFAULTS_PATH; fi; '
    'shift; exec "$@"'
)


def wired(argv: tuple[str, ...], agent: str | None, channel: str) -> tuple[str, ...]:
    """`argv` with the agent kind's hooks wired in, each reporting to `channel`: the
    user's own settings files are never touched."""
    kind = AGENTS.get(agent) if agent else None
    if kind is None or kind.hooks is HookStyle.NONE:
        return argv
    if kind.hooks is HookStyle.CLAUDE_SETTINGS:
        return (*argv, "--settings", claude_settings(channel))
    if kind.hooks is HookStyle.CODEX_NOTIFY:
        return (*argv, "-c", codex_notify(channel))
    return ("sh", "-c", GEMINI_WRAPPER, "agenttower-gemini", gemini_settings(channel), *argv)
