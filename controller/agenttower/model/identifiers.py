"""Identifier rules shared by every manifest field that ends up in tmux or on disk.

FEAT-013 allows `[A-Za-z0-9_.-]{1,64}`; Template and LaunchProfile names may also hold
`+` (the built-ins are `1m+2s`, `2m+2s`). tmux stores `.` and `:` in session names as
`_`, so a session name may not hold `.`: whatever is accepted must round-trip.

Names also become path segments (`logs/<target>/<layout>/<label>.log`, `tmux -L
<socket>`), so a name made only of dots is refused: `.` and `..` would put a layout's
logs beside or above its folder, and `...` is refused with them because it is a valid
name for no purpose and looks like them; one rule ("not only dots") is also one JSON
Schema pattern without look-ahead, which Kubernetes' RE2 lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

from .durations import parse_duration
from .errors import excerpt
from .redaction import is_secret

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CATALOG_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
SESSION_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
TMUX_LAYOUT_RE = re.compile(r"[A-Za-z0-9_,.x{}\[\]-]{1,2048}")
LABEL_PATTERN_RE = re.compile(r"(?:[A-Za-z0-9_.-]|\{ordinal\})+")
# a git branch name, made of `/`-separated parts of [A-Za-z0-9_.-] that start with a letter,
# digit or `_` (never `.` or `-`), with no `..` and no `.lock` part end (git check-ref-format)
_BRANCH_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
BRANCH_RE = re.compile(rf"(?!.*\.\.)(?!.*\.lock(?:/|$)){_BRANCH_PART}(?:/{_BRANCH_PART})*")
BRANCH_PATTERN_RE = re.compile(r"(?:[A-Za-z0-9_./-]|\{layout\}|\{label\}){1,200}")
ONLY_DOTS_RE = re.compile(r"\.+")
# an ssh host (a name from ~/.ssh/config, a DNS name or an IPv4 address) or login: never
# starting with '-', so ssh cannot read it as an option
SSH_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")
SSH_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
PATH_SEGMENT_RES = (NAME_RE, CATALOG_NAME_RE)  # the rules that also refuse names of only dots
ONLY_DOTS_REASON = "is made only of dots: as a path segment ('.', '..' are folder links) it leaves its folder"


def _matcher(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    def show(value: str) -> str:
        return excerpt(env_key_part(value) if regex is ENV_KEY_RE else value)

    segment = regex in PATH_SEGMENT_RES

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{show(value)} is not a valid {what} (allowed: {what_rule(regex)})")
        if segment and ONLY_DOTS_RE.fullmatch(value):
            raise ValueError(f"{value!r} {ONLY_DOTS_REASON}")
        return value

    return check


def env_key_part(key: str) -> str:
    """An env key as an error may show it: `API_TOKEN=sk-1` typed as a key (shell habit)
    holds its secret, so a secret-named key that is not a valid name shows only its
    valid start."""
    if not is_secret(key) or ENV_KEY_RE.fullmatch(key):
        return key
    start = re.match(r"[A-Za-z0-9_]*", key)
    return (start.group() if start else "") + "…"


def what_rule(regex: re.Pattern[str]) -> str:
    return {
        NAME_RE.pattern: "[A-Za-z0-9_.-], 1 to 64 characters, not only dots",
        CATALOG_NAME_RE.pattern: "[A-Za-z0-9_.+-], 1 to 64 characters, not only dots",
        SESSION_RE.pattern: "[A-Za-z0-9_-], 1 to 64 characters; tmux rewrites '.' and ':'",
        ENV_KEY_RE.pattern: "a letter or _, then letters, digits or _",
        SSH_HOST_RE.pattern: "an ssh host: [A-Za-z0-9_.-], not starting with '.' or '-', 253 at most; "
        "no login@ (the login is `user`, or the ssh config's User for a container on the host)",
        SSH_USER_RE.pattern: "a login name: [A-Za-z0-9_.-], not starting with '.' or '-'",
        TMUX_LAYOUT_RE.pattern: "a tmux layout name or layout string",
        LABEL_PATTERN_RE.pattern: "[A-Za-z0-9_.-] and {ordinal}",
        BRANCH_PATTERN_RE.pattern: "[A-Za-z0-9_./-] and {layout}, {label}; 1 to 200 characters",
        BRANCH_RE.pattern: "a git branch name: '/'-separated parts of [A-Za-z0-9_.-], none starting "
        "with '.' or '-', no '..', no '.lock' ending",
    }.get(regex.pattern, regex.pattern)


def is_name(value: str) -> bool:
    return NAME_RE.fullmatch(value) is not None and ONLY_DOTS_RE.fullmatch(value) is None


def is_catalog_name(value: str) -> bool:
    return CATALOG_NAME_RE.fullmatch(value) is not None and ONLY_DOTS_RE.fullmatch(value) is None


Name = Annotated[str, AfterValidator(_matcher(NAME_RE, "name"))]
CatalogName = Annotated[str, AfterValidator(_matcher(CATALOG_NAME_RE, "template/profile name"))]
SshHost = Annotated[str, AfterValidator(_matcher(SSH_HOST_RE, "ssh host"))]
SshUser = Annotated[str, AfterValidator(_matcher(SSH_USER_RE, "ssh user"))]
SessionName = Annotated[str, AfterValidator(_matcher(SESSION_RE, "session name"))]
EnvKey = Annotated[str, AfterValidator(_matcher(ENV_KEY_RE, "environment variable name"))]
TmuxLayoutName = Annotated[str, AfterValidator(_matcher(TMUX_LAYOUT_RE, "tmux layout"))]
LabelPattern = Annotated[str, AfterValidator(_matcher(LABEL_PATTERN_RE, "label pattern"))]
BranchPattern = Annotated[str, AfterValidator(_matcher(BRANCH_PATTERN_RE, "branch pattern"))]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


Arg = Annotated[str, AfterValidator(_no_nul)]
AbsolutePath = Annotated[str, AfterValidator(_no_control), AfterValidator(_absolute)]
PlainText = Annotated[str, AfterValidator(_no_control)]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


def _duration(value: str) -> str:
    if parse_duration(value) <= 0:
        raise ValueError("must be longer than 0s")
    return value


Regex = Annotated[str, AfterValidator(_no_nul), AfterValidator(_regex)]  # Python `re` syntax
Duration = Annotated[str, AfterValidator(_duration)]  # `30s`, `2m`, `500ms`
