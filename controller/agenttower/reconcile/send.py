"""`send`: type text into managed panes, one or every pane of a layout (or of one role).

A request kind of the one entry point, not a pass: it changes no pane record, but it
writes its event to the store's outbox (so it holds the reconciler lock like any verb)
and a running controller must be the one to do it (the CLI hands it over as it does
`remove`). Every rule is checked before anything is typed: the pane exists, agenttower
manages it (an adopted pane may be an operator's shell, where text and Enter run a
command: agenttower only types into processes it started), and its process is alive
in the listing just taken. The event says how long the text was and its sha256,
never the text.
"""

from __future__ import annotations

from typing import Any

from agenttower.events.types import EventType
from agenttower.model.agents import Activity
from agenttower.model.errors import AgentTowerError, ErrorCode, cannot_observe, validation_failed
from agenttower.model.lifecycle import State
from agenttower.model.resolved import DesiredLayout
from agenttower.runtime.observe import Listing
from agenttower.runtime.paste import Delivery, Outcome, paste
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes

from .engine import Session
from .lifecycle import find_slot


def _refuse(layout: LayoutRecord, pane: PaneRecord, why: str) -> AgentTowerError:
    """A pane that cannot take text now: FEAT-013's code for a verb the pane's state refuses."""
    return AgentTowerError(
        ErrorCode.PANE_ILLEGAL_TRANSITION,
        f"pane {layout.name}/{pane.label} {why}: nothing was sent",
        {"pane_id": pane.id, "current_state": str(pane.state), "requested_action": "send"},
    )


def _running(layout: LayoutRecord, pane: PaneRecord, listing: Listing) -> str:
    """The tmux pane id to type into, or raise why this pane cannot take text."""
    if pane.state not in (State.READY, State.DEGRADED):
        raise _refuse(layout, pane, f"is {pane.state}")
    seen = next((p for p in listing.panes if p.record_id == pane.id), None)
    if seen is None:
        raise _refuse(layout, pane, "has no tmux pane on its target")
    if seen.dead:
        raise _refuse(layout, pane, f"is not running ({seen.exit_description})")
    return seen.pane_id


def _text(session: Session, request: dict[str, Any]) -> str:
    text = request.get("text")
    if not isinstance(text, str) or text == "":
        raise validation_failed("text", "nothing to send (give TEXT or --file)")
    limit = session.settings.send.max_chars
    if len(text) > limit:
        raise validation_failed("text", f"{len(text)} characters: at most {limit} are sent at once")
    return text


def _panes(session: Session, request: dict[str, Any]) -> tuple[LayoutRecord, list[PaneRecord]]:
    """The one pane named, or the layout's current live panes (of `role`, if given)."""
    if request.get("layout") is None:
        layout, pane = find_slot(session, str(request["pane"]))
        return layout, [pane]
    name = str(request["layout"])
    layout_rec = session.store.layout_by_name(name)
    if layout_rec is None:
        raise AgentTowerError(ErrorCode.LAYOUT_NOT_FOUND, f"layout {name!r} not found", {"layout_id": name})
    role = request.get("role")
    panes = [
        p
        for p in current_panes(session.store.panes(layout_rec.id)).values()
        if p.live and (role is None or p.role == role)
    ]
    if not panes:
        raise validation_failed("role" if role else "layout", f"layout {name} has no live pane to send to")
    return layout_rec, sorted(panes, key=lambda p: p.slot)


def send(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    text = _text(session, request)
    enter = bool(request.get("enter", True))
    layout, panes = _panes(session, request)
    target = DesiredLayout.from_json(layout.resolved).target if layout.resolved else None
    tmux = session.runtime(layout.target_key, target)
    listing = tmux.list_panes()
    if not listing.known:
        raise cannot_observe(layout.target_key, listing.error, "send")
    targets = [(pane, _running(layout, pane, listing)) for pane in panes]  # all checked first
    if request.get("when") == "idle":
        busy = _not_idle(listing, targets)
        if busy:  # nothing is typed anywhere: the CLI asks again until its deadline
            return {"results": [_waiting(layout, p, a) for p, a in busy], "delivered": False, "waiting": True}
    settings = session.settings.send
    results = []
    for pane, tmux_pane_id in targets:
        delivery = paste(
            tmux,
            tmux_pane_id,
            text,
            enter=enter,
            enter_delay=settings.enter_delay,
            confirm_within=settings.confirm_within,
            sleep=session.sleep,
        )
        if delivery.outcome is not Outcome.NOT_PASTED:
            _record(session, pane, delivery)
        results.append(_answer(layout, pane, delivery))
    session.flush_audit()
    return {"results": results, "delivered": all(r["delivered"] for r in results)}


def _not_idle(listing: Listing, targets: list[tuple[PaneRecord, str]]) -> list[tuple[PaneRecord, str]]:
    """The panes whose agent does not say it is idle, with what it says: the activity its
    hooks set on the pane, read in the listing just taken. No hooks, no word: `unknown`,
    which is not idle."""
    said = {p.pane_id: p.activity for p in listing.panes}
    busy = []
    for pane, tmux_pane_id in targets:
        activity = said.get(tmux_pane_id) or str(Activity.UNKNOWN)
        if activity != Activity.IDLE:
            busy.append((pane, activity))
    return busy


def _waiting(layout: LayoutRecord, pane: PaneRecord, activity: str) -> dict[str, Any]:
    return {
        "pane": f"{layout.name}/{pane.label}",
        "id": pane.id,
        "outcome": "not_idle",
        "delivered": False,
        "reason": f"activity {activity}",
        "length": 0,
    }


def _record(session: Session, pane: PaneRecord, delivery: Delivery) -> None:
    with session.store.write(session.clock(), session.actor) as tx:
        tx.emit(
            EventType.PANE_INPUT_SENT,
            pane.layout_id,
            pane.id,
            {
                "length": delivery.length,
                "sha256": delivery.sha256,
                "enter": delivery.entered,
                "outcome": str(delivery.outcome),
            },
        )


def _answer(layout: LayoutRecord, pane: PaneRecord, delivery: Delivery) -> dict[str, Any]:
    return {
        "pane": f"{layout.name}/{pane.label}",
        "id": pane.id,
        "tmuxPaneId": delivery.tmux_pane_id,
        "length": delivery.length,
        "sha256": delivery.sha256,
        "enter": delivery.entered,
        "outcome": str(delivery.outcome),
        "delivered": delivery.delivered,
        "reason": delivery.error or None,
    }
