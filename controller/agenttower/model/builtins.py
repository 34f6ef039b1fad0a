"""The built-in templates, the built-in `shell` launch profile (FEAT-013 FR-001) and
the built-in agent profiles `claude`, `codex`, `gemini` and `aider`.

`shell` has no command: tmux starts its own `default-shell` on the target, so the
spec hash of a plain pane does not depend on who ran agenttower or their $SHELL.
An agent profile names its kind (model/agents.py: hooks, screen rules) and carries
that kind's start and resume argv (`{sessionId}`: the slot's conversation) and its
readiness probe; an operator's profile of the same name replaces it whole.
"""

from __future__ import annotations

from types import MappingProxyType

from .agents import AGENTS, AgentKind
from .resources import LaunchProfileSpec, TemplatePane, TemplateSpec

SHELL_PROFILE = "shell"


def _pane(role: str, capability: str, pattern: str) -> TemplatePane:
    return TemplatePane(role=role, capability=capability, label_pattern=pattern)


_MASTER = _pane("master", "orchestrator", "m{ordinal}")
_SLAVE = _pane("slave", "worker", "s{ordinal}")

BUILTIN_TEMPLATES: MappingProxyType[str, TemplateSpec] = MappingProxyType(
    {
        "1m+2s": TemplateSpec(panes=[_MASTER, _SLAVE, _SLAVE]),
        "2m+2s": TemplateSpec(panes=[_MASTER, _MASTER, _SLAVE, _SLAVE]),
    }
)


READINESS_TIMEOUT = "60s"  # a first start may install or migrate something


def _agent_profile(kind: AgentKind) -> LaunchProfileSpec:
    body: dict[str, object] = {"command": list(kind.command), "agent": kind.name}
    if kind.resume is not None:
        body["resume"] = list(kind.resume)
    if kind.ready is not None:
        body["readiness"] = {"pattern": kind.ready, "timeout": READINESS_TIMEOUT}
    return LaunchProfileSpec.model_validate(body)


BUILTIN_PROFILES: MappingProxyType[str, LaunchProfileSpec] = MappingProxyType(
    {name: _agent_profile(kind) for name, kind in AGENTS.items()}
)
