"""The operator's requests (apply, delete) as functions of a locked Session.

The CLI calls them in-process when no controller runs; the controller calls the same
functions when the CLI hands a request over its socket. Requests and results are plain
JSON-able dicts so both paths return exactly the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agenttower.model.desired import resolve
from agenttower.model.errors import AgentTowerError, ErrorCode, validation_failed

from . import desired_dir as dd
from .actions import CreateLayout, Plan
from .engine import PassResult, Session, legacy_catalog, load_desired
from .plan import current_panes


def handle(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "apply":
        return apply(session, request)
    if op == "delete":
        return delete(session, [(k, n) for k, n in request["objects"]])
    from . import lifecycle

    verbs = {
        "remove": lifecycle.remove,
        "recreate": lifecycle.recreate,
        "scan": lifecycle.scan,
        "adopt": lifecycle.adopt,
        "promote": lifecycle.promote,
    }
    if op in verbs:
        return verbs[op](session, request)
    raise validation_failed("op", f"unknown request {op!r}")


def incoming_from(request: dict[str, Any]) -> list[dd.Incoming]:
    return [dd.Incoming(Path(i["destination"]), i["text"], i["display"]) for i in request["incoming"]]


def incoming_to_wire(incoming: Sequence[dd.Incoming]) -> list[dict[str, str]]:
    return [{"destination": str(i.destination), "text": i.text, "display": i.display} for i in incoming]


def action_rows(plan: Plan) -> list[dict[str, str]]:
    return [{"action": a.describe(), "target": a.target_key, "cause": a.cause} for a in plan.actions]


def _layout_of(action: object) -> str | None:
    layout = getattr(action, "layout", None)
    if layout is not None:
        return str(layout.name)
    name = getattr(action, "name", None)
    return str(name).split("/")[0] if name else None


def layout_results(plan: Plan, names: Sequence[str]) -> dict[str, str]:
    results = {}
    for name in names:
        mine = [a for a in plan.actions if _layout_of(a) == name]
        if any(isinstance(a, CreateLayout) for a in mine):
            results[name] = "created"
        else:
            results[name] = "configured" if mine else "unchanged"
    return results


def apply(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Apply; with an idempotency key, the same request again replays the first result."""
    from .lifecycle import remember, replayed

    again = replayed(session, request)
    if again is not None:
        return again
    response = _apply(session, request)
    if not response["dryRun"]:
        remember(session, request, response)
    return response


def _apply(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    incoming = incoming_from(request)
    paths = session.paths
    desired = load_desired(paths, incoming)
    shown = {item.display for item in incoming}
    names = [m.name for m in desired.manifests if m.kind == "Layout" and m.document.file in shown]
    snapshot = session.snapshot()
    observed = session.observe(desired, snapshot)
    plan = session.plan(desired, snapshot, observed)
    warnings = list(desired.warnings)
    from .targets import container_not_found

    for name in names:  # a container that does not exist is refused before anything is written
        layout = desired.layouts.get(name)
        listing = observed.get(layout.target.key) if layout else None
        if layout is None or listing is None or listing.can_create:
            continue
        if listing.unavailable == "container_missing":
            raise container_not_found(layout)
        warnings.append(f"layout {name}: nothing can be created on {layout.target.key} now: {listing.error}")
    for blocked in plan.blocked:
        if blocked.layout in names:
            raise blocked.error
        warnings.append(f"layout {blocked.layout}: {blocked.error.message}")
    response: dict[str, Any] = {
        "layouts": layout_results(plan, names),
        "actions": action_rows(plan),
        "dryRun": bool(request.get("dry_run")),
        "warnings": warnings,
        "errors": [],
        "notReady": [],
    }
    if request.get("dry_run"):
        return response
    for item in incoming:
        current = item.destination.read_text("utf-8") if item.destination.exists() else None
        if current != item.text:
            dd.write_atomic(item.destination, item.text)
    result = PassResult(plan, observed)
    session.execute(result)
    response["errors"] = [e.to_wire() for e in result.errors]
    if request.get("wait"):
        deadline = time.monotonic() + float(request.get("timeout", 120))
        settle(session, deadline, names)
        response["notReady"] = not_ready(session, names)
    return response


def current(session: Session, names: Sequence[str]) -> list[tuple[str, Any]]:
    found = []
    for name in names:
        rec = session.store.layout_by_name(name)
        if rec is None:
            continue
        for pane in sorted(current_panes(session.store.panes(rec.id)).values(), key=lambda p: p.slot):
            found.append((f"{name}/{pane.label}", pane))
    return found


def settle(session: Session, deadline: float, names: Sequence[str]) -> None:
    """Passes until no pane of `names` is still creating, or the deadline."""
    while any(p.state == "creating" for _, p in current(session, names)) and time.monotonic() < deadline:
        session.sleep(0.2)
        session.run_pass(load_desired(session.paths))


def not_ready(session: Session, names: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"name": n, "state": p.state, "failedStage": p.failed_stage, "reason": p.reason}
        for n, p in current(session, names)
        if p.state not in ("ready", "removed")
    ]


def delete(session: Session, objects: Sequence[tuple[str, str]]) -> dict[str, Any]:
    paths = session.paths
    wanted = set(objects)
    layouts = sorted(name for kind, name in wanted if kind == "Layout")
    desired = load_desired(paths)
    found = {m.key: m for m in desired.manifests if m.key in wanted}
    for name in layouts:
        rec = session.store.layout_by_name(name)
        if ("Layout", name) not in found and (rec is None or rec.state == "removed"):
            raise AgentTowerError(
                ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r} not found", {"layout_id": name}
            )
    remaining = [m for m in desired.manifests if m.key not in wanted]
    resolve(remaining, legacy_catalog(paths))  # what stays must still be valid on its own
    dd.remove_objects(found)
    result = session.run_pass(load_desired(paths), deletes=layouts)
    errors = [*result.errors, *(b.error for b in result.plan.blocked if b.layout in layouts)]
    return {"layouts": layouts, "errors": [e.to_wire() for e in errors]}
