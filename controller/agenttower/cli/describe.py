"""`describe` output: an indented, kubectl-describe-like text built from plain data."""

from __future__ import annotations

from typing import Any

from agenttower.model import environment
from agenttower.store.records import LayoutRecord, PaneRecord

from .views import World, layout_item, pane_item


def _chain(world: World, pane: PaneRecord) -> list[str]:
    chain, seen = [], {pane.id}
    pred = pane.predecessor_id
    while pred and pred not in seen:
        seen.add(pred)
        rec = next((p for p in world.panes if p.id == pred), None)
        if rec is None:
            break
        chain.append(f"{rec.id} ({rec.state}{', ' + rec.failed_stage if rec.failed_stage else ''})")
        pred = rec.predecessor_id
    return chain


def _event_line(event: dict[str, Any]) -> str:
    payload = ", ".join(f"{k}={v}" for k, v in event.get("payload", {}).items() if v is not None)
    who = event.get("pane") or event.get("layout") or ""
    return f"{event['timestamp']}  {event['event_type']:<38} {who}  {payload}".rstrip()


def layout(world: World, rec: LayoutRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
    item = layout_item(world, rec)
    mine = sorted((p for p in world.panes if p.layout_id == rec.id), key=lambda p: (p.slot, p.created_at))
    panes = [pane_item(world, p) for p in mine]
    return {**item, "panes": panes, "events": events}


def pane(world: World, rec: PaneRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
    item = pane_item(world, rec)
    return {
        **item,
        "environment": _environment(world, rec),
        "predecessorChain": _chain(world, rec),
        "events": events,
    }


def _environment(world: World, rec: PaneRecord) -> list[dict[str, str]]:
    """What the pane started with: the base (where each value comes from), the profile's
    env as recorded (secrets already redacted), and the pane's identity."""
    layout = world.layout_by_id(rec.layout_id)
    name = layout.name if layout else rec.layout_id
    container = bool(layout and layout.target_key.startswith("container:"))
    profile_env = (rec.launch.get("env") or {}).items()
    identity = environment.PaneIdentity(name, rec.label, rec.role, rec.id, rec.session_id)
    return [{"name": k, "value": v} for k, v in environment.describe(profile_env, identity, container)]


def _observed_line(status: dict[str, Any]) -> str | None:
    source = status.get("observation")
    if source == "live":
        return f"live, tmux listed at {status['observedAt']}"
    if source == "controller":
        return f"by the controller's last pass, at {status['observedAt']}"
    if source == "stale":
        return (
            f"stale: the target could not be listed ({status['observationError']}); records as last written"
        )
    return None


def render(data: dict[str, Any]) -> str:
    lines = [f"Name:         {data['metadata']['name']}", f"Kind:         {data['kind']}"]
    status = data["status"]
    for key in (
        "id",
        "state",
        "failedStage",
        "reason",
        "exitCode",
        "activity",
        "activityReason",
        "activitySince",
        "target",
        "session",
        "tmuxPaneId",
        "chainDepth",
        "predecessorId",
        "sessionId",
        "agentSessionId",
        "resumedFrom",
        "agentId",
        "logPath",
        "sourceFile",
        "outdated",
        "nextRestartAt",
        "crashLoop",
        "observedGeneration",
    ):
        if status.get(key) not in (None, "", False):
            lines.append(f"{key + ':':<13} {status[key]}")
    seen = _observed_line(status)
    if seen:
        lines.append(f"{'observed:':<14}{seen}")
    if data["kind"] == "Pane":
        spec = data["spec"]
        lines.append(f"{'role:':<14}{spec['role']} ({spec['capability']})")
        launch = spec.get("launch") or {}
        lines.append(f"{'launch:':<14}{launch.get('profile')} {launch.get('command') or '(default shell)'}")
        if data.get("environment"):
            lines.append("Environment:")
            lines.extend(f"  {e['name']}={e['value']}" for e in data["environment"])
    if status.get("conditions"):
        lines.append("Conditions:")
        for cond in status["conditions"]:
            detail = f"  {cond['message']}" if cond.get("message") else ""
            lines.append(f"  {cond['type']:<12} {cond['status']:<6} {cond['reason']}{detail}")
    if data.get("panes"):
        lines.append("Panes:")
        for p in data["panes"]:
            s = p["status"]
            stage = f" ({s['failedStage']})" if s["failedStage"] else ""
            pred = f" <- {s['predecessorId']}" if s["predecessorId"] else ""
            lines.append(
                f"  {p['metadata']['name']:<24} {s['state']}{stage}  {s['id']}"
                f"  tmux {s['tmuxPaneId'] or '-'}{pred}"
            )
    if status.get("lastOutput"):
        lines.append("Last output:")  # what the agent printed before it exited
        lines.extend(f"  {line}" for line in str(status["lastOutput"]).splitlines())
    if data.get("predecessorChain"):
        lines.append("Predecessors:")
        lines.extend(f"  {entry}" for entry in data["predecessorChain"])
    lines.append("Events:")
    lines.extend(f"  {_event_line(e)}" for e in data.get("events", [])) if data.get("events") else (
        lines.append("  <none>")
    )
    return "\n".join(lines)
