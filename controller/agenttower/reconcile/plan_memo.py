"""A pass's plan, worked out again only when what it is planned from has changed.

The planner is pure. A plan with no action depends on the clock only through the time
it asks to be woken at (`Plan.requeue_at`): every rule that waits (restart back-off,
a readiness deadline, a first task's delay, the next screen read) compares `now` with
such a time and reports it. So the same inputs, before that time, plan the same again,
and a converged pass skips its planning: about 8 ms of a 1,000-pane pass, a fifth of
it. `test_property_an_action_free_plan_holds_until_its_requeue_time` checks that
premise over the planner's rules.

Inputs are compared by value. While nothing changed that is mostly identity checks:
the desired dir's cache hands back the same layouts, an unchanged database the same
records, and the listing the same panes for the lines it saw before. A plan with
actions is never reused: running it changes what it was planned from, and some of its
rules (the creating TTL) have no wake-up time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agenttower.model.resolved import DesiredLayout
from agenttower.runtime.observe import Listing
from agenttower.settings import Settings

from .actions import Plan
from .plan import Snapshot, plan


@dataclass
class PlanMemo:
    """The last action-free plan of a pass and everything it was planned from but the time."""

    inputs: tuple[object, ...] | None = None
    last: Plan | None = None
    reused: int = 0  # passes that took the plan as it was (tests and benchmarks read it)

    def plan(
        self,
        desired: Mapping[str, DesiredLayout],
        snapshot: Snapshot,
        observed: Mapping[str, Listing],
        instance_id: str,
        now: datetime,
        settings: Settings,
        recovery: bool = False,
        outside: Iterable[str] = (),
    ) -> Plan:
        inputs = (
            dict(desired),
            snapshot,
            # a listing compares without its screens: they are inputs too
            {key: (listing, dict(listing.screens)) for key, listing in observed.items()},
            instance_id,
            settings,
            recovery,
            frozenset(outside),
        )
        last = self.last
        if last is not None and inputs == self.inputs and (last.requeue_at is None or now < last.requeue_at):
            self.reused += 1
            return last
        result = plan(desired, snapshot, observed, instance_id, now, (), settings, (), recovery, (), outside)
        self.inputs, self.last = (inputs, result) if not result.actions else (None, None)
        return result
