"""The FEAT-013 event types, as stable wire strings (plus the restart back-off, which
FEAT-013 has no restart policies to need)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    LAYOUT_CREATED = "managed_layout_created"
    LAYOUT_STATE_CHANGED = "managed_layout_state_changed"
    PANE_CREATED = "managed_pane_created"
    PANE_STATE_CHANGED = "managed_pane_state_changed"
    PANE_RECREATED = "managed_pane_recreated"
    PANE_REMOVED = "managed_pane_removed"
    PANE_PENDING_MARKER_SET = "managed_pane_pending_marker_set"
    PANE_PENDING_MARKER_CLEARED = "managed_pane_pending_marker_cleared"
    PANE_LAUNCH_COMMAND_EXITED = "managed_pane_launch_command_exited"
    PANE_LOG_ATTACH_FAILED = "managed_pane_log_attach_failed"
    PANE_LOG_ROTATED = "managed_pane_log_rotated"  # its log passed the cap: copied aside, truncated
    PANE_RESTART_BACKOFF = "managed_pane_restart_backoff"
    PANE_CRASH_LOOP_HELD = "managed_pane_crash_loop_held"  # the same failure twice: no more restarts
    PANE_INPUT_SENT = "managed_pane_input_sent"  # length and sha256 of the text, never the text
    LAYOUT_RECOVERY_REATTACHED = "managed_layout_recovery_reattached"
    LAYOUT_RECOVERY_FAILED = "managed_layout_recovery_failed"
    PANE_ACTIVITY_CHANGED = "managed_pane_activity_changed"  # working / waiting / idle / unknown
    PANE_AGENT_SESSION_REPORTED = "managed_pane_agent_session_reported"
    PANE_RESUME_FELL_BACK = "managed_pane_resume_fell_back"
