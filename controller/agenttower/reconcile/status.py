"""Layout status the Kubernetes way: `Ready`, `Reconciling` and `Stalled` conditions with
reason, message and lastTransitionTime, and `observedGeneration`.

Computed purely from records and the pass's plan; written only when something changed,
so a pass with nothing to do writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agenttower.model.lifecycle import State
from agenttower.store.records import LayoutRecord, PaneRecord

from .actions import Note, NoteKind, Plan


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message}


def _mine(name: str, plan: Plan, kind: NoteKind) -> list[Note]:
    """The pass's notes of one kind about panes of layout `name`: typed, so a reworded
    message never changes a condition."""
    return [n for n in plan.notes if n.kind is kind and n.layout == name and n.label is not None]


def _stalled(name: str, plan: Plan, problems: Mapping[str, str]) -> dict[str, Any]:
    if name in problems:
        return _condition("Stalled", True, "InvalidManifest", problems[name])
    blocked = next((b for b in plan.blocked if b.layout == name), None)
    if blocked is not None:
        return _condition("Stalled", True, str(blocked.error.code), blocked.error.located_message())
    loops = [f"{n.label}: {n.message}" for n in _mine(name, plan, NoteKind.CRASH_LOOP)]
    if loops:
        return _condition("Stalled", True, "CrashLoop", "; ".join(loops))
    limit = [str(n.label) for n in _mine(name, plan, NoteKind.RESTART_LIMIT)]
    if limit:
        return _condition(
            "Stalled", True, "RestartLimitReached", f"restart limit reached: {', '.join(limit)}"
        )
    return _condition("Stalled", False, "AsExpected", "")


def removed_message(rec: LayoutRecord) -> str:
    """What `wait` and the Ready condition say about a layout that no longer exists."""
    return f"layout {rec.name} was deleted at {rec.removed_at or rec.updated_at}"


def _ready(rec: LayoutRecord, panes: Iterable[PaneRecord]) -> dict[str, Any]:
    if rec.state == State.REMOVED:  # its panes are gone: "all removed" must not read as ready
        return _condition("Ready", False, "LayoutRemoved", removed_message(rec))
    bad = [
        f"{p.label}: {p.state}" + (f" ({p.failed_stage})" if p.failed_stage else "")
        for p in panes
        if p.state not in (State.READY, State.REMOVED)
    ]
    if rec.state == State.READY and not bad:
        return _condition("Ready", True, "AllPanesReady", "")
    return _condition("Ready", False, "PanesNotReady", "; ".join(bad) or rec.state)


def _reconciling(name: str, panes: Iterable[PaneRecord], plan: Plan) -> dict[str, Any]:
    if any(p.state == State.CREATING for p in panes):
        return _condition("Reconciling", True, "Creating", "panes are being created")
    waits = [n.message for n in _mine(name, plan, NoteKind.BACKOFF)]
    if waits:
        return _condition("Reconciling", True, "BackOff", "; ".join(waits))
    return _condition("Reconciling", False, "AsExpected", "")


def compute(
    rec: LayoutRecord, panes: Iterable[PaneRecord], plan: Plan, problems: Mapping[str, str], now: str
) -> tuple[list[dict[str, Any]], int]:
    """The layout's conditions (keeping lastTransitionTime where the status held) and the
    generation it is now converged to."""
    current = list(panes)
    new = [
        _ready(rec, current),
        _reconciling(rec.name, current, plan),
        _stalled(rec.name, plan, problems),
    ]
    before = {c["type"]: c for c in rec.conditions}
    for cond in new:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"]
        cond["lastTransitionTime"] = old.get("lastTransitionTime", now) if same and old else now
    invalid = rec.name in problems
    observed = rec.observed_generation if invalid else rec.generation
    return new, observed


def with_ready(rec: LayoutRecord, panes: Iterable[PaneRecord], now: str) -> list[dict[str, Any]]:
    """The recorded conditions with Ready as `panes` say now: what a read shows of a
    layout it observed itself (Reconciling and Stalled need the desired dir: kept)."""
    ready = _ready(rec, panes)
    old = next((c for c in rec.conditions if c["type"] == "Ready"), None)
    same = old is not None and old.get("status") == ready["status"]
    ready["lastTransitionTime"] = old.get("lastTransitionTime", now) if same and old else now
    rest = [c for c in rec.conditions if c["type"] != "Ready"]
    return [ready, *rest]


def changed(rec: LayoutRecord, conditions: list[dict[str, Any]], observed: int) -> bool:
    return list(rec.conditions) != conditions or rec.observed_generation != observed
