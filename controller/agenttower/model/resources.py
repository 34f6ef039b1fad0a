"""The three manifest kinds (Layout, Template, LaunchProfile) as frozen pydantic models.

camelCase in YAML, unknown fields rejected, strict types (a string is never coerced
into an argv list, a number never into a name), so a manifest means exactly one thing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .constants import API_VERSION as API_VERSION
from .constants import PRUNE_ANNOTATION as PRUNE_ANNOTATION
from .identifiers import (
    AbsolutePath,
    Arg,
    BranchPattern,
    CatalogName,
    Duration,
    EnvKey,
    LabelPattern,
    Name,
    PlainText,
    Regex,
    SessionName,
    TmuxLayoutName,
)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


class Metadata(_Model):
    name: Name
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class CatalogMetadata(_Model):
    name: CatalogName
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class LogMount(_Model):
    """A bind mount the operator declared, so a container's pane logs are host-readable."""

    container_path: AbsolutePath
    host_path: AbsolutePath


class TargetSpec(_Model):
    """Where the layout's tmux server runs: the host by default, or a container."""

    container: Name | None = None
    user: PlainText | None = None
    socket: Name | None = None
    socket_path: AbsolutePath | None = None
    log_mount: LogMount | None = None

    @model_validator(mode="after")
    def _one_socket(self) -> TargetSpec:
        if self.socket is not None and self.socket_path is not None:
            raise ValueError("set at most one of socket and socketPath")
        return self


class WorktreeSpec(_Model):
    """A git worktree of `repo` (as the target sees it) on `branch`, made before the pane
    starts and used as its working directory; `{layout}` and `{label}` name the branch."""

    repo: AbsolutePath
    branch: BranchPattern = "agenttower/{layout}/{label}"


class Workspace(_Model):
    worktree: WorktreeSpec


class TemplatePane(_Model):
    role: Name
    capability: Name
    label_pattern: LabelPattern
    launch: CatalogName | None = None
    # a first task typed into the agent once, when the slot is first ready (never again)
    initial_input: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None
    workspace: Workspace | None = None  # its own git worktree as the working directory


class TemplateSpec(_Model):
    panes: Annotated[list[TemplatePane], Field(min_length=1, max_length=64)]


AgentName = Literal["claude", "codex", "gemini", "aider"]  # the kinds model/agents.py knows


class Readiness(_Model):
    """The screen that says the agent is ready (its prompt): a pane is `ready` only once
    it shows, else `degraded` / `readiness` after `timeout`."""

    pattern: Regex
    timeout: Duration = "60s"


class ScreenRuleSpec(_Model):
    """A pattern on the pane's screen and the activity it means (first match wins, before
    the agent kind's own rules)."""

    pattern: Regex
    activity: Literal["working", "waiting", "idle"]
    reason: PlainText


class LaunchProfileSpec(_Model):
    """`command` starts a conversation; `resume` (optional) continues the slot's after a
    restart. Both may use `{sessionId}` (model/agents.py)."""

    command: Annotated[list[Arg], Field(min_length=1)]
    resume: Annotated[list[Arg], Field(min_length=1)] | None = None
    env: dict[EnvKey, Arg] = Field(default_factory=dict)
    working_dir: AbsolutePath | None = None
    agent: AgentName | None = None  # hooks wired at launch, screen rules and readiness of that CLI
    readiness: Readiness | None = None
    screen: Annotated[list[ScreenRuleSpec], Field(max_length=64)] = Field(default_factory=list)


RestartPolicy = Literal["Never", "OnFailure", "Always"]
UpdateStrategy = Literal["OnDelete", "Recreate"]


class LayoutSpec(_Model):
    target: TargetSpec = Field(default_factory=TargetSpec)
    session: SessionName | None = None
    template: CatalogName | None = None
    panes: Annotated[list[TemplatePane], Field(min_length=1, max_length=64)] | None = None
    launch: dict[str, CatalogName] = Field(default_factory=dict)
    workspace: Workspace | None = None  # every pane's default (a pane's own wins)
    tmux_layout: TmuxLayoutName | None = None
    restart_policy: RestartPolicy = "Never"
    update_strategy: UpdateStrategy = "OnDelete"
    suspend: bool = False
    notify: Annotated[list[Arg], Field(min_length=1)] | None = None  # argv, event JSON on stdin

    @model_validator(mode="after")
    def _template_xor_panes(self) -> LayoutSpec:
        if (self.template is None) == (self.panes is None):
            raise ValueError("set exactly one of template and panes")
        return self


class Layout(_Model):
    api_version: Literal["agenttower.dev/v1alpha1"]
    kind: Literal["Layout"]
    metadata: Metadata
    spec: LayoutSpec


class Template(_Model):
    api_version: Literal["agenttower.dev/v1alpha1"]
    kind: Literal["Template"]
    metadata: CatalogMetadata
    spec: TemplateSpec


class LaunchProfile(_Model):
    api_version: Literal["agenttower.dev/v1alpha1"]
    kind: Literal["LaunchProfile"]
    metadata: CatalogMetadata
    spec: LaunchProfileSpec


Resource = Layout | Template | LaunchProfile
KINDS: dict[str, type[Layout] | type[Template] | type[LaunchProfile]] = {
    "Layout": Layout,
    "Template": Template,
    "LaunchProfile": LaunchProfile,
}
