"""The operator's requests (apply, delete) as functions of a locked Session.

The CLI calls them in-process when no controller runs; the controller calls the same
functions when the CLI hands a request over its socket. Requests are plain JSON-able
dicts; apply and delete answer with the typed answers of `answers.py` (sent as their
wire dicts), so both paths return exactly the same thing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenttower.model.desired import Desired, resolve
from agenttower.model.errors import AgentTowerError, ErrorCode, cannot_observe
from agenttower.model.lifecycle import State
from agenttower.runtime.observe import Listing, Unavailable
from agenttower.store.faults import translate
from agenttower.store.records import PaneRecord, current_panes

from . import desired_dir as dd
from .actions import Kind, Plan
from .answers import ApplyAnswer, DeleteAnswer, LayoutResult, Pending
from .engine import PassResult, Session, legacy_catalog, load_desired

# stdlib logging: silent in the CLI (where internal errors carry no text), routed to the
# controller's stderr log by daemon.logging
log = logging.getLogger("agenttower.reconcile")


def incoming_from(request: dict[str, Any]) -> list[dd.Incoming]:
    return [dd.Incoming(Path(i["destination"]), i["text"], i["display"]) for i in request["incoming"]]


def incoming_to_wire(incoming: Sequence[dd.Incoming]) -> list[dict[str, str]]:
    return [{"destination": str(i.destination), "text": i.text, "display": i.display} for i in incoming]


def action_rows(plan: Plan) -> list[dict[str, str]]:
    return [a.to_wire() for a in plan.actions]


def layout_results(
    plan: Plan, names: Sequence[str], pending: Sequence[Pending] = ()
) -> dict[str, LayoutResult]:
    waiting = {p.name for p in pending}
    results = {}
    for name in names:
        mine = plan.of_layout(name)
        if name in waiting:
            results[name] = LayoutResult.PENDING
        elif any(a.kind is Kind.CREATE_LAYOUT for a in mine):
            results[name] = LayoutResult.CREATED
        else:
            results[name] = LayoutResult.CONFIGURED if mine else LayoutResult.UNCHANGED
    return results


def apply(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Apply; with an idempotency key, the same request again replays the first result."""
    from .lifecycle import remember, replayed

    again = replayed(session, request)
    if again is not None:
        return again
    answer = _apply(session, request)
    if not answer.dry_run:
        try:
            remember(session, request, answer.to_wire())
        except Exception:  # the manifest is written: a lost replay record is no reason to say "failed"
            log.info("could not store the idempotency result", exc_info=True)
    return answer.to_wire()


def _apply(session: Session, request: dict[str, Any]) -> ApplyAnswer:
    incoming = incoming_from(request)
    paths = session.paths
    desired = session.selected(load_desired(paths, incoming))
    shown = {item.display for item in incoming}
    names = [m.name for m in desired.manifests if m.kind == "Layout" and m.document.file in shown]
    snapshot = session.snapshot()
    observed = session.observe(desired, snapshot)
    plan = session.plan(desired, snapshot, observed)
    warnings = list(desired.warnings)
    host = session.settings.loop.target_host
    warnings += [
        f"layout {name}: its target.host is not {host} (this reconciler's selection): written, "
        "left to that host's controller"
        for name in names
        if name in desired.outside
    ]
    pending = _pending(desired, observed, names)
    warnings += [f"layout {p.name}: nothing can be created on {p.target} now: {p.reason}" for p in pending]
    for blocked in plan.blocked:
        if blocked.layout in names:
            raise blocked.error
        warnings.append(f"layout {blocked.layout}: {blocked.error.message}")
    answer = ApplyAnswer(
        layout_results(plan, names, pending),
        action_rows(plan),
        bool(request.get("dry_run")),
        warnings,
        pending=pending,
    )
    if answer.dry_run:
        return answer
    for item in incoming:
        current = item.destination.read_text("utf-8") if item.destination.exists() else None
        if current != item.text:
            dd.write_atomic(item.destination, item.text)
    try:
        _converge(session, request, PassResult(plan, observed), names, answer)
    except AgentTowerError as exc:
        answer.accept(exc.to_wire())
    except Exception as exc:
        # written but not converged: the controller's next pass (or the next apply)
        # finishes it, so "error" would be a failure that takes effect later; a storage
        # fault (a full disk, say) is named, since nothing converges until it is fixed
        log.info("apply accepted: its pass failed after the desired dir was written", exc_info=True)
        paths = session.paths
        known = translate(exc, paths.database, paths.audit_file)
        answer.accept((known or AgentTowerError(ErrorCode.INTERNAL_ERROR, "internal error")).to_wire())
    return answer


def _pending(desired: Desired, observed: Mapping[str, Listing], names: Sequence[str]) -> list[Pending]:
    """Layouts of the request whose target cannot take panes now. A container that does not
    exist is refused before anything is written; a target that did not answer (or a
    stopped container) is accepted and named: a later pass creates the layout."""
    from .targets import container_not_found

    pending = []
    for name in names:
        layout = desired.layouts.get(name)
        listing = observed.get(layout.target.key) if layout else None
        if layout is None or listing is None or listing.can_create:
            continue
        if listing.unavailable is Unavailable.CONTAINER_MISSING:
            raise container_not_found(layout)
        why = "did not answer" if not listing.known else "cannot take panes"
        pending.append(Pending(name, layout.target.key, f"target {layout.target.key} {why}: {listing.error}"))
    return pending


def _converge(
    session: Session, request: dict[str, Any], result: PassResult, names: Sequence[str], answer: ApplyAnswer
) -> None:
    session.execute(result)
    answer.errors = [e.to_wire() for e in result.errors]
    if request.get("wait"):
        panes = settle(session, names)
        answer.not_ready = not_ready(panes)
        created = {name for name, _ in panes}
        answer.pending = [p for p in answer.pending if p.name not in created]


def current(session: Session, names: Sequence[str]) -> list[tuple[str, PaneRecord]]:
    """(layout name, pane) for the current pane of each slot of these layouts, in slot order."""
    found = []
    for name in names:
        rec = session.store.layout_by_name(name)
        if rec is None:
            continue
        for pane in sorted(current_panes(session.store.panes(rec.id)).values(), key=lambda p: p.slot):
            found.append((name, pane))
    return found


def settle(session: Session, names: Sequence[str]) -> list[tuple[str, PaneRecord]]:
    """Passes until no pane of `names` is still creating, or the verb's deadline; the
    panes as the last look found them (`current`)."""
    deadline = session.calls.deadline or time.monotonic() + session.settings.verbs.wait_without_deadline
    panes = current(session, names)
    while any(p.state == State.CREATING for _, p in panes) and time.monotonic() < deadline:
        session.sleep(0.2)
        session.run_pass(load_desired(session.paths))
        panes = current(session, names)
    return panes


def not_ready(panes: Sequence[tuple[str, PaneRecord]]) -> list[dict[str, Any]]:
    return [
        {"name": f"{n}/{p.label}", "state": p.state, "failedStage": p.failed_stage, "reason": p.reason}
        for n, p in panes
        if p.state not in (State.READY, State.REMOVED)
    ]


def delete(session: Session, objects: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every check first, the observation included: a target that does not answer fails
    the delete before the desired dir is touched (a cut manifest would otherwise be
    pruned by a later pass, a failure taking effect after it was reported). Then the cut
    and one pass planned on that same observation. A layout outside this reconciler's
    target-host selection (another host's) loses only its record and panes here: its
    manifest is that host's, and stays."""
    paths = session.paths
    wanted = set(objects)
    layouts = sorted(name for kind, name in wanted if kind == "Layout")
    desired = load_desired(paths)
    outside = session.selected(desired).outside
    found = {m.key: m for m in desired.manifests if m.key in wanted}
    for name in layouts:
        rec = session.store.layout_by_name(name)
        gone = rec is None or rec.state == State.REMOVED
        if gone and (("Layout", name) not in found or name in outside):
            why = (
                ": it is another host's (its target.host is not this reconciler's) and has no panes "
                "here; remove its manifest from the shared desired dir to delete it everywhere"
                if name in outside
                else " not found"
            )
            raise AgentTowerError(ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r}{why}", {"layout_id": name})
    remaining = [m for m in desired.manifests if m.key not in wanted]
    resolve(remaining, legacy_catalog(paths))  # what stays must still be valid on its own
    snapshot = session.snapshot()
    observed = session.observe(desired, snapshot)
    _observable(session, layouts, observed)
    dd.remove_objects({key: m for key, m in found.items() if not (m.kind == "Layout" and m.name in outside)})
    after = load_desired(paths)
    result = PassResult(session.plan(after, snapshot, observed, deletes=layouts), observed)
    session.execute(result, snapshot)
    errors = [*result.errors, *(b.error for b in result.plan.blocked if b.layout in layouts)]
    return DeleteAnswer(layouts, [e.to_wire() for e in errors]).to_wire()


def _observable(session: Session, layouts: Sequence[str], observed: Mapping[str, Listing]) -> None:
    for name in layouts:
        rec = session.store.layout_by_name(name)
        if rec is None or rec.state == State.REMOVED:
            continue
        listing = observed.get(rec.target_key)
        if listing is None or not listing.known:
            why = listing.error if listing is not None else "not listed"
            then = f"; nothing was deleted (layout {name} and its manifest are as they were)"
            raise cannot_observe(rec.target_key, why, then=then)
