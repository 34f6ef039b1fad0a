"""The built-in templates and the built-in `shell` launch profile (FEAT-013 FR-001).

`shell` has no command: tmux starts its own `default-shell` on the target, so the
spec hash of a plain pane does not depend on who ran agenttower or their $SHELL.
"""

from __future__ import annotations

from types import MappingProxyType

from .resources import TemplatePane, TemplateSpec

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
