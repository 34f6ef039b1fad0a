"""Conversations across restarts: which id a successor keeps, and whether it resumes.

A slot keeps one conversation id from record to record (a restart by policy, a
`recreate`, a `restart`, recovery after a reboot); only a new slot or `restart
--fresh` gets a new one. A successor runs the profile's `resume` when its
predecessor's conversation ran (it reached ready, or it was itself a resume that did
not fail at once); a resume that exits at once is followed by `command` once, in the
same slot and at the same chain depth, so a missing conversation costs no back-off.
Pure functions of records and the desired launch.
"""

from __future__ import annotations

from datetime import datetime

from agenttower.model.agents import substitute
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import Launch
from agenttower.settings import RestartSettings
from agenttower.store.records import PaneRecord

from .actions import Conversation
from .restarts import depth_after

ENDED = frozenset({State.DEGRADED, State.FAILED})


def resume_failed(pane: PaneRecord) -> bool:
    """Started to resume, and its process was gone at the launch probe (never ready)."""
    return (
        pane.resumed_from is not None
        and pane.ready_at is None
        and pane.state in ENDED
        and pane.failed_stage == Stage.LAUNCH_COMMAND
    )


def successor(pred: PaneRecord, launch: Launch, fresh: bool = False) -> Conversation:
    """The conversation of the record that follows `pred` in its slot."""
    if fresh:
        return Conversation()
    if resume_failed(pred):
        return Conversation(pred.session_id, fell_back=True)
    ran = pred.ready_at is not None or pred.resumed_from is not None
    resume_id = (pred.agent_session_id or pred.session_id) if ran and launch.resume else None
    return Conversation(pred.session_id, pred.agent_session_id, resume_id)


def operated_depth(pred: PaneRecord, talk: Conversation, settings: RestartSettings, now: datetime) -> int:
    """The depth of an operator's successor: the fallback after a failed resume stays at
    the resume's depth (that step already counted); any other, one more (or 0 again)."""
    return pred.chain_depth if talk.fell_back else depth_after(pred, settings, now)


def argv(launch: Launch, pane: PaneRecord) -> tuple[str, ...] | None:
    """What the record's pane runs: `resume` with the id it resumes, else `command` with
    the slot's id (`{sessionId}` replaced); None: the profile has no command (a shell)."""
    if pane.resumed_from is not None and launch.resume is not None:
        return substitute(launch.resume, pane.resumed_from)
    if launch.command is None:
        return None
    return substitute(launch.command, pane.session_id or "")
