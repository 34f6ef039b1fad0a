"""The closed set of error codes (FEAT-013) and the one exception that carries them.

Every failure a user can see goes through `AgentTowerError`, so the CLI, the control
socket and the tests all read the same `code` and `details`, and a source location
(file, line, field) travels with errors that come from a manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
    ) -> None:
        super().__init__(message)
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


def validation_failed(field: str, reason: str, source: SourceLocation | None = None) -> AgentTowerError:
    return AgentTowerError(
        ErrorCode.VALIDATION_FAILED,
        f"{field}: {reason}",
        {"field": field, "reason": reason},
        source,
    )
