"""What each agent is doing and whether it is ready: pure rules over one observation.

Hooks first: an agent whose hooks agenttower wired (model/agents.py) reports its own
activity as a pane option, read by the pass's one listing. The screen decides where
there is no hook, or before hooks can run: a login or trust screen comes before any
hook, and Gemini CLI fires its SessionStart hook (idle) while its sign-in screen
shows, so a screen rule that says `waiting` wins over a hook. A screen is read only
every `AgentSettings.screen_period`; between two reads a screen's `waiting` stands
(the hook cannot overrule what it could not see). Codex reports only the end of a
turn (its `notify` program), so its screen rules win over that hook. With no rule
matching, a changing screen is `working`, the prompt of its readiness probe or a still
screen `idle`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from agenttower.model.agents import AGENTS, Activity, HookStyle, classify
from agenttower.model.lifecycle import State
from agenttower.model.resolved import DesiredLayout, Launch
from agenttower.runtime.observe import Listing, ObservedPane, Screen
from agenttower.store.records import LayoutRecord, PaneRecord

from .identity import Claims, claims, match


class Source(StrEnum):
    """Who said what an agent is doing (`status.activitySource`)."""

    HOOK = "hook"  # the agent's own hook, through its pane option
    SCREEN = "screen"  # a screen rule, the readiness prompt, or the screen changing or still
    PROCESS = "process"  # its process is not running: nothing is doing anything


HOOK_REASONS = {
    Activity.WORKING: "working on a prompt (hook)",
    Activity.WAITING: "needs the user: a permission prompt (hook)",
    Activity.IDLE: "idle at its prompt (hook)",
}
_HOOKED = {activity.value: activity for activity in HOOK_REASONS}  # the hook option as written


@dataclass(frozen=True)
class Verdict:
    activity: Activity
    reason: str
    source: Source

    def differs(self, pane: PaneRecord) -> bool:
        return (self.activity, self.reason) != (pane.activity, pane.activity_reason)


@dataclass(frozen=True)
class ActivityUpdate:
    """A pane's new activity, recorded (with its event) after the pass's actions: what an
    agent does is status, not something a pass does, so it is no action of the plan."""

    pane_id: str
    layout: str
    label: str
    verdict: Verdict
    before: Activity

    def __str__(self) -> str:
        return f"{self.layout}/{self.label}: {self.before} -> {self.verdict.activity} ({self.verdict.reason})"


STOPPED = Verdict(Activity.UNKNOWN, "not running", Source.PROCESS)


def judge(launch: Launch, obs: ObservedPane, screen: Screen | None, pane: PaneRecord) -> Verdict | None:
    """What the agent in `obs` is doing, or None: nothing new is known (keep the record)."""
    rules = launch.rules()
    rule = classify(screen.text, rules) if screen is not None else None
    kind = AGENTS.get(launch.agent) if launch.agent else None
    idle_only = kind is not None and kind.hooks is HookStyle.CODEX_NOTIFY  # its hook says only "done"
    if rule is not None and (rule.activity is Activity.WAITING or idle_only):
        return Verdict(rule.activity, rule.reason, Source.SCREEN)
    if (
        screen is None
        and pane.activity_source == Source.SCREEN
        and (pane.activity is Activity.WAITING or idle_only)
    ):
        return None  # only a later screen can say otherwise (the user answered, the turn ended)
    hooked = _hook(obs.activity)
    if hooked is not None:
        return Verdict(hooked, HOOK_REASONS[hooked], Source.HOOK)
    if screen is None:
        return None
    if rule is not None:
        return Verdict(rule.activity, rule.reason, Source.SCREEN)
    if launch.readiness is not None and _shows(launch.readiness.pattern, screen.text):
        return Verdict(Activity.IDLE, "at its prompt (screen)", Source.SCREEN)
    if screen.changed is True:
        return Verdict(Activity.WORKING, "screen changing", Source.SCREEN)
    if screen.changed is False:
        return Verdict(Activity.IDLE, "screen still", Source.SCREEN)
    return None


def is_ready(launch: Launch, screen: Screen) -> bool:
    """The readiness prompt shows on two reads in a row, and no screen rule says the
    agent waits for the user on either (a login screen may draw a prompt-like line too;
    Codex draws its prompt for a moment before its sign-in screen)."""
    if launch.readiness is None:
        return True
    if screen.previous is None:
        return False
    for text in (screen.previous, screen.text):
        rule = classify(text, launch.rules())
        if (rule is not None and rule.activity is Activity.WAITING) or not _shows(
            launch.readiness.pattern, text
        ):
            return False
    return True


def shown(launch: Launch, screen: Screen | None) -> str | None:
    """What a waiting screen says (a login, a trust question), for a readiness failure."""
    rule = classify(screen.text, launch.rules()) if screen is not None else None
    return rule.reason if rule is not None and rule.activity is Activity.WAITING else None


def _shows(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.MULTILINE) is not None


def _hook(value: str) -> Activity | None:
    """None: unset (no hook ran yet), or not ours to read. A dict lookup, not
    `Activity(value)`: most panes' option is unset, and raising ValueError for each of
    them was a tenth of a 1,000-pane pass's planning."""
    return _HOOKED.get(value)


def launch_of(desired: Mapping[str, DesiredLayout], rec: LayoutRecord, pane: PaneRecord) -> Launch | None:
    """The launch a slot is watched by: its layout's desired spec, else the one recorded."""
    layout = layout_of(desired, rec)
    slot = layout.pane(pane.label) if layout is not None else None
    return slot.launch if slot is not None else None


def layout_of(desired: Mapping[str, DesiredLayout], rec: LayoutRecord) -> DesiredLayout | None:
    layout = desired.get(rec.name)
    if layout is None and rec.resolved:
        layout = DesiredLayout.from_json(rec.resolved)
    return layout


def watched(
    desired: Mapping[str, DesiredLayout],
    layouts: tuple[LayoutRecord, ...],
    panes: tuple[PaneRecord, ...],
    observed: Mapping[str, Listing],
    owner: str,
) -> dict[str, tuple[str, ...]]:
    """Target -> the tmux panes whose screens a pass reads: live records whose launch has
    screen rules or a readiness probe, found running in that target's listing. A layout
    none of whose launches is watched is passed over whole (most of them: a pass asks
    this of every pane)."""
    found: dict[str, list[str]] = {}
    watching: dict[str, tuple[LayoutRecord, DesiredLayout]] = {}
    for rec in layouts:
        layout = layout_of(desired, rec)
        listing = observed.get(rec.target_key)
        if layout is not None and layout.watched and listing is not None and listing.known:
            watching[rec.id] = (rec, layout)
    if not watching:
        return {}
    claimed: dict[str, Claims] = {}  # worked out for a target once one of its panes is watched
    for pane in panes:
        hit = watching.get(pane.layout_id)
        if hit is None or not pane.live:
            continue
        if pane.state == State.CREATING and pane.ready_by is None:
            continue  # still being spawned
        rec, layout = hit
        slot = layout.pane(pane.label)
        if slot is None or not slot.launch.watched:
            continue
        table = claimed.get(rec.target_key)
        if table is None:
            table = claimed[rec.target_key] = claims(observed[rec.target_key].panes, owner)
        obs = match(pane, rec.session, table).pane
        if obs is not None and not obs.dead:
            found.setdefault(rec.target_key, []).append(obs.pane_id)
    return {key: tuple(ids) for key, ids in found.items()}
