"""The operator's lifecycle verbs on single panes: remove, recreate, restart, scan, adopt, promote.

Each checks every FEAT-013 rule before anything is written (illegal sources, chain depth,
concurrent recreates, adopted panes), then asks the planner for that one verb (an
`Operation`: what to kill, where to respawn, the successor's depth are the pass's rules)
and runs its plan through the executor a pass uses, so events, states and tmux batches
are exactly those of a pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from agenttower.model.desired import launch_of
from agenttower.model.errors import AgentTowerError, ErrorCode, cannot_observe, validation_failed
from agenttower.model.identifiers import is_name
from agenttower.model.lifecycle import State
from agenttower.model.resolved import DesiredLayout, DesiredPane, Launch, Target, spec_hash
from agenttower.runtime.observe import Listing
from agenttower.store.records import LayoutRecord, PaneRecord, current_panes

from .conversations import operated_depth, resume_failed, successor
from .engine import PassResult, Session, load_desired
from .plan import Operation, Snapshot, Verb, plan

UNHASHED = ("idempotency_key", "deadline")  # a retry with the same key sends a new deadline


def _protected(session: Session, name: str) -> None:
    for agent in session.store.adopted():
        if name in (agent.id, agent.tmux_pane_id, f"{agent.layout_name}/{agent.label}"):
            raise AgentTowerError(
                ErrorCode.PANE_PROTECTED_ADOPTED,
                f"{name} is an adopted pane: agenttower never kills or recreates it",
                {"agent_id": agent.id, "is_adopted": True},
            )


def find_slot(session: Session, name: str) -> tuple[LayoutRecord, PaneRecord]:
    """`layout/label` (the record that speaks for that slot now) or a pane record id."""
    _protected(session, name)
    store = session.store
    pane = store.pane(name)
    if pane is None:
        layout_name, _, label = name.partition("/")
        rec = store.layout_by_name(layout_name) if label else None
        pane = current_panes(store.panes(rec.id)).get(label) if rec else None
    layout = store.layout(pane.layout_id) if pane else None
    if pane is None or layout is None:
        raise AgentTowerError(ErrorCode.PANE_NOT_FOUND, f"pane {name!r} not found", {"pane_id": name})
    return layout, pane


def _target_of(layout: LayoutRecord) -> Target | None:
    return DesiredLayout.from_json(layout.resolved).target if layout.resolved else None


def _not_removable(name: str, asked: str, state: State) -> str:
    """Why `remove` refuses, as a whole sentence that says what to do instead."""
    if state == State.CREATING:
        return (
            f"pane {name} is still being created and cannot be removed yet; run "
            f"`agenttower remove pane {asked}` again once it is ready, degraded or failed"
        )
    return f"pane {name} is already removed; run `agenttower recreate pane {asked}` to bring the slot back"


def _not_recreatable(name: str, asked: str, state: State) -> str:
    """Why `recreate` refuses a live pane, and the step that makes it recreatable."""
    head = f"pane {name} is {state}: only failed or removed panes can be recreated"
    if state == State.CREATING:
        return f"{head}; wait until its creation ends (`agenttower get pane {asked}`)"
    return f"{head}; run `agenttower remove pane {asked}` first"


def _operate(
    session: Session, layout: LayoutRecord, listing: Listing, op: Operation, spec: DesiredLayout | None = None
) -> None:
    """Plan the one verb on the layout's records and what was just listed, then run it."""
    snapshot = Snapshot((layout,), tuple(session.store.panes(layout.id)))
    observed = {layout.target_key: listing}
    desired = {layout.name: spec} if spec is not None else {}
    planned = plan(
        desired,
        snapshot,
        observed,
        session.store.instance_id,
        session.clock(),
        settings=session.settings,
        operations=(op,),
    )
    if planned.blocked:
        raise planned.blocked[0].error
    result = PassResult(planned, observed)
    session.execute(result)
    if result.errors:
        raise result.errors[0]


def remove(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    asked = str(request["pane"])
    layout, pane = find_slot(session, asked)
    if pane.state in (State.CREATING, State.REMOVED):
        raise AgentTowerError(
            ErrorCode.PANE_ILLEGAL_TRANSITION,
            _not_removable(f"{layout.name}/{pane.label}", asked, pane.state),
            {"pane_id": pane.id, "current_state": pane.state, "requested_action": "remove"},
        )
    listing = session.runtime(layout.target_key, _target_of(layout)).list_panes()
    _operate(session, layout, listing, Operation(Verb.REMOVE, pane.id))
    after = session.store.pane(pane.id)
    return {"pane": f"{layout.name}/{pane.label}", "id": pane.id, "state": after.state if after else None}


def _request_hash(request: dict[str, Any]) -> str:
    body = {k: v for k, v in request.items() if k not in UNHASHED}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def replayed(session: Session, request: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result of an earlier request with the same idempotency key, if any."""
    key = request.get("idempotency_key")
    if not key:
        return None
    stored = session.store.idempotent_result(str(key))
    if stored is None:
        return None
    op, digest, result = stored
    if (op, digest) != (request.get("op"), _request_hash(request)):
        raise validation_failed("idempotency_key", f"key {key!r} was used for a different request")
    return {**result, "replay": True}


def remember(session: Session, request: dict[str, Any], result: dict[str, Any]) -> None:
    key = request.get("idempotency_key")
    if key:
        with session.store.write(session.clock(), session.actor) as tx:
            tx.remember(str(key), str(request.get("op")), _request_hash(request), result)


def _successor(session: Session, layout: LayoutRecord, source: PaneRecord) -> PaneRecord | None:
    for pane in session.store.panes(layout.id):
        if pane.live and (pane.predecessor_id == source.id or pane.label == source.label):
            return pane
    return None


def _desired_pane(
    session: Session, layout: LayoutRecord, label: str, profile: str | None
) -> tuple[DesiredLayout, DesiredPane]:
    desired = load_desired(session.paths)
    spec = desired.layouts.get(layout.name)
    if spec is None and layout.resolved:
        spec = DesiredLayout.from_json(layout.resolved)
    pane = spec.pane(label) if spec else None
    if spec is None or pane is None:
        raise validation_failed("pane", f"{layout.name}/{label} is not in the layout's spec any more")
    if profile is not None:
        if profile not in desired.catalog.profiles:
            known = desired.catalog.known_profiles()
            raise AgentTowerError(
                ErrorCode.LAUNCH_COMMAND_NOT_FOUND,
                f"launch profile {profile!r} not found (known: {', '.join(known)})",
                {"profile_name": profile, "known_profiles": known},
            )
        chosen = desired.catalog.profiles[profile]
        launch = Launch(profile) if chosen is None else launch_of(profile, chosen)
        pane = replace(pane, launch=launch, spec_hash=spec_hash(launch, spec.target))
    return spec, pane


def recreate(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    again = replayed(session, request)
    if again is not None:
        return again
    asked = str(request["pane"])
    layout, source = find_slot(session, asked)
    if source.state not in (State.FAILED, State.REMOVED):
        raise AgentTowerError(
            ErrorCode.PANE_ILLEGAL_RECREATE_SOURCE,
            _not_recreatable(f"{layout.name}/{source.label}", asked, source.state),
            {"predecessor_pane_id": source.id, "current_state": source.state},
        )
    result = _follow(session, layout, source, Verb.RECREATE, request.get("launch"))
    remember(session, request, result)
    return result


def restart(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Stop this agent and bring it back in the same conversation: a live pane is removed
    and replaced in place by a linked successor that runs `resume` (`fresh`: a new
    session id and `command`); a failed or removed one is recreated the same way."""
    asked = str(request["pane"])
    layout, source = find_slot(session, asked)
    if source.state == State.CREATING:
        raise AgentTowerError(
            ErrorCode.PANE_ILLEGAL_TRANSITION,
            f"pane {layout.name}/{source.label} is still being created and cannot be restarted yet; "
            f"run `agenttower restart pane {asked}` again once it is ready, degraded or failed",
            {"pane_id": source.id, "current_state": source.state, "requested_action": "restart"},
        )
    return _follow(session, layout, source, Verb.RESTART, None, bool(request.get("fresh")))


def _follow(
    session: Session,
    layout: LayoutRecord,
    source: PaneRecord,
    verb: Verb,
    profile: str | None,
    fresh: bool = False,
) -> dict[str, Any]:
    """A linked successor for `source`, after the rules every such verb keeps."""
    running = _successor(session, layout, source) if not source.live else None
    if running is not None:
        raise AgentTowerError(
            ErrorCode.PANE_CONCURRENT_RECREATE,
            f"pane {source.id} already has a live successor {running.id}",
            {"predecessor_pane_id": source.id, "in_flight_successor_pane_id": running.id},
        )
    spec, pane = _desired_pane(session, layout, source.label, profile)
    talk = successor(source, pane.launch, fresh)
    depth = operated_depth(source, talk, session.settings.restarts, session.clock())
    limit = session.settings.panes.chain_limit
    if depth > limit:
        raise AgentTowerError(
            ErrorCode.PANE_RECREATE_CHAIN_TOO_DEEP,
            f"pane {source.id} is the end of a chain of {source.chain_depth} recreates (limit {limit})",
            {
                "predecessor_pane_id": source.id,
                "predecessor_chain_depth": source.chain_depth,
                "limit": limit,
            },
        )
    listing = session.runtime(layout.target_key, spec.target).list_panes()
    _operate(session, layout, listing, Operation(verb, source.id, pane, fresh), spec)
    new = next(p for p in session.store.panes(layout.id) if p.predecessor_id == source.id)
    if resume_failed(new):  # the conversation is not there: its command, as a pass would
        return _follow(session, layout, new, Verb.RESTART, profile)
    return {
        "pane": f"{layout.name}/{new.label}",
        "id": new.id,
        "predecessorId": source.id,
        "chainDepth": new.chain_depth,
        "state": new.state,
        "sessionId": new.session_id,
        "resumedFrom": new.resumed_from,
        "replay": False,
    }


def scan(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Panes of a target that agenttower does not manage (never one with a pending marker)."""
    key = str(request.get("target") or "host")
    listing = session.runtime(key).list_panes()
    if not listing.known:
        raise cannot_observe(key, listing.error)
    adopted = {a.tmux_pane_id: a.id for a in session.store.adopted() if a.target_key == key}
    found = [
        {
            "tmuxPaneId": p.pane_id,
            "session": p.session,
            "window": p.window_id,
            "index": p.pane_index,
            "title": p.title,
            "pid": p.pid,
            "dead": p.dead,
            "adoptedAs": adopted.get(p.pane_id),
        }
        for p in listing.panes
        if p.owner != session.store.instance_id and not p.pending and not p.record_id
    ]
    return {"target": key, "panes": found}


def adopt(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    key = str(request.get("target") or "host")
    tmux_id = str(request["pane"])
    for field in ("layout", "label", "role", "capability"):
        if not is_name(str(request.get(field) or "")):
            raise validation_failed(field, "must match [A-Za-z0-9_.-], 1 to 64 characters")
    listing = session.runtime(key).list_panes()
    if not listing.known:  # an unreadable listing is not "no such pane"
        raise cannot_observe(key, listing.error)
    obs = next((p for p in listing.panes if p.pane_id == tmux_id), None)
    if obs is None:
        raise AgentTowerError(
            ErrorCode.PANE_NOT_FOUND, f"no tmux pane {tmux_id} on {key}", {"pane_id": tmux_id}
        )
    if obs.record_id or obs.pending:
        raise validation_failed(
            "pane", f"{tmux_id} is managed by agenttower (or being created): not adoptable"
        )
    existing = session.store.adopted(tmux_id)
    if existing:
        return {"agentId": existing[0].id, "tmuxPaneId": tmux_id, "replay": True}
    with session.store.write(session.clock(), session.actor) as tx:
        agent_id = tx.adopt(
            tmux_id,
            key,
            str(request["layout"]),
            str(request["label"]),
            str(request["role"]),
            str(request["capability"]),
        )
    return {"agentId": agent_id, "tmuxPaneId": tmux_id, "replay": False}


def promote(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    raise AgentTowerError(ErrorCode.NOT_IMPLEMENTED, "promoting an adopted pane to a managed one is reserved")
