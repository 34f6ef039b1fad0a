"""The closed set of error codes (FEAT-013) and the one exception that carries them.

Every failure a user can see goes through `AgentTowerError`, so the CLI, the control
socket and the tests all read the same `code` and `details`, and a source location
(file, line, field) travels with errors that come from a manifest.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .redaction import redact

EXCERPT_CHARS = 60
MAX_FIELD_CHARS = 160
MAX_REASON_CHARS = 320


class ErrorCode(StrEnum):
    TEMPLATE_NOT_FOUND = "managed_template_not_found"
    LAUNCH_COMMAND_NOT_FOUND = "managed_launch_command_not_found"
    SESSION_NAME_CONFLICT = "managed_session_name_conflict"
    PANE_LABEL_CONFLICT = "managed_pane_label_conflict"
    LAYOUT_CAPACITY_EXCEEDED = "managed_layout_capacity_exceeded"
    LAYOUT_NOT_FOUND = "managed_layout_not_found"
    PANE_NOT_FOUND = "managed_pane_not_found"
    PANE_PROTECTED_ADOPTED = "managed_pane_protected_adopted"
    PANE_ILLEGAL_TRANSITION = "managed_pane_illegal_transition"
    PANE_ILLEGAL_RECREATE_SOURCE = "managed_pane_illegal_recreate_source"
    PANE_RECREATE_CHAIN_TOO_DEEP = "managed_pane_recreate_chain_too_deep"
    PANE_CONCURRENT_RECREATE = "managed_pane_concurrent_recreate"
    CONTAINER_NOT_FOUND = "container_not_found"
    VALIDATION_FAILED = "validation_failed"
    NOT_IMPLEMENTED = "not_implemented"
    INTERNAL_ERROR = "internal_error"


class Cause(StrEnum):
    """Why an error of a generic code happened, for the code that handles it (never on
    the wire, where the closed set of codes is the contract)."""

    UNOBSERVABLE = "unobservable"  # a target's tmux did not answer: nothing is known about it


@dataclass(frozen=True)
class SourceLocation:
    """Where a manifest value came from; `line` is 1-based like editors show it."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


class AgentTowerError(Exception):
    """A user-facing failure with a stable code; `details` keys are part of the wire format."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        source: SourceLocation | None = None,
        cause: Cause | None = None,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.source = source
        if source is not None:
            self.details.setdefault("file", source.file)
            if source.line is not None:
                self.details.setdefault("line", source.line)

    def located_message(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message

    def to_wire(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.located_message(), "details": self.details}

    def every(self) -> tuple[AgentTowerError, ...]:
        """Every error this one stands for (one, unless several files were each wrong)."""
        return (self,)


class ErrorList(AgentTowerError):
    """Several files of one request, each wrong in its own way: the operator sees them all
    at once instead of fixing one per run. Code, message and details are the first's."""

    def __init__(self, errors: tuple[AgentTowerError, ...]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.details, first.source, first.cause)
        self.errors = errors

    def every(self) -> tuple[AgentTowerError, ...]:
        return self.errors


def raise_all(errors: list[AgentTowerError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(tuple(e for err in errors for e in err.every()))


class _Excerpt(reprlib.Repr):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxstring = self.maxother = limit
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple = 3, 4, 6, 6


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """How an error quotes a user's value: at most `limit` characters and `…`.

    A manifest value can be megabytes long (a 10 MB name once gave a 10 MB error line)
    and structures are repr'd with env maps redacted, so a secret that landed in the
    wrong field (`kind: {env: {API_TOKEN: x}}`) is not shown either. Every value an
    error shows goes through here.
    """
    if isinstance(value, str):
        text = repr(value[:limit])
        cut = len(value) > limit
    else:
        try:
            text = _Excerpt(limit).repr(redact(value))
        except ValueError:  # an int beyond Python's 4300-digit str limit
            text = f"<{type(value).__name__}>"
        cut = False
    if len(text) > limit + 2:  # escapes (`\x00`) make a repr longer than its string
        text, cut = text[:limit], True
    return f"{text}… ({len(value)} characters)" if cut and isinstance(value, str) else text + "…" * cut


def clamp(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_failed(field: str, reason: str, source: SourceLocation | None = None) -> AgentTowerError:
    """The generic FEAT-013 error; field and reason are clamped so that no input, however
    large, makes an error line longer than a few hundred characters."""
    field, reason = clamp(field, MAX_FIELD_CHARS), clamp(reason, MAX_REASON_CHARS)
    return AgentTowerError(
        ErrorCode.VALIDATION_FAILED,
        f"{field}: {reason}",
        {"field": field, "reason": reason},
        source,
    )


def cannot_observe(target_key: str, why: str | None, purpose: str = "", then: str = "") -> AgentTowerError:
    """A target whose listing is indeterminate: FEAT-013 has no code of its own for it, so
    it is an internal_error whose typed cause says what happened."""
    head = f"cannot observe target {target_key}" + (f" to {purpose}" if purpose else "")
    return AgentTowerError(
        ErrorCode.INTERNAL_ERROR, f"{head}: {why or 'not listed'}{then}", cause=Cause.UNOBSERVABLE
    )
