"""What `apply` and `delete` answer, typed, the same in-process and over the socket.

The CLI picks its exit code from these fields, never from message text: `accepted`
says the desired dir holds the change although this request's pass did not finish it
(a later pass converges it), and `pending` names the layouts that could not be created
yet and the target that stopped them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LayoutResult(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PENDING = "pending"  # written, but its target could not take it now
    ACCEPTED = "accepted"  # written, but the pass failed: a later pass converges it


@dataclass(frozen=True)
class Pending:
    """A layout in the request that this pass could not create, and why."""

    name: str
    target: str
    reason: str

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "target": self.target, "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Pending:
        return cls(str(wire["name"]), str(wire["target"]), str(wire["reason"]))


@dataclass
class ApplyAnswer:
    layouts: dict[str, LayoutResult]
    actions: list[dict[str, str]]
    dry_run: bool
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_ready: list[dict[str, Any]] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    accepted: bool = False
    replay: bool = False

    def accept(self, error: dict[str, Any]) -> None:
        """The desired dir was written, then the pass failed: say so, not just "error"."""
        self.accepted = True
        self.errors.append(error)
        self.layouts = dict.fromkeys(self.layouts, LayoutResult.ACCEPTED)

    def to_wire(self) -> dict[str, Any]:
        return {
            "layouts": {name: str(result) for name, result in self.layouts.items()},
            "actions": self.actions,
            "dryRun": self.dry_run,
            "warnings": self.warnings,
            "errors": self.errors,
            "notReady": self.not_ready,
            "pending": [p.to_wire() for p in self.pending],
            "accepted": self.accepted,
            "replay": self.replay,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ApplyAnswer:
        """Also reads results stored by an older version under an idempotency key."""
        return cls(
            layouts={name: LayoutResult(result) for name, result in wire["layouts"].items()},
            actions=list(wire["actions"]),
            dry_run=bool(wire["dryRun"]),
            warnings=list(wire.get("warnings", [])),
            errors=list(wire.get("errors", [])),
            not_ready=list(wire.get("notReady", [])),
            pending=[Pending.from_wire(p) for p in wire.get("pending", [])],
            accepted=bool(wire.get("accepted", False)),
            replay=bool(wire.get("replay", False)),
        )


@dataclass
class DeleteAnswer:
    layouts: list[str]
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"layouts": self.layouts, "errors": self.errors}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> DeleteAnswer:
        return cls(list(wire["layouts"]), list(wire.get("errors", [])))
