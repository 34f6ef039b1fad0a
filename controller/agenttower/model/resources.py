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
    SSH_USER_RE,
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
    SshHost,
    TmuxLayoutName,
    what_rule,
)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        use_attribute_docstrings=True,  # a field's docstring is its description (schema, CRD, explain)
    )


class Metadata(_Model):
    name: Name
    """The layout's name: unique in the desired dir, the tmux session's name by default."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """agenttower.dev/prune: disabled keeps the layout's panes when its manifest leaves the dir."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Free key/value pairs; `agenttower get -l key=value` selects layouts by them."""


class CatalogMetadata(_Model):
    name: CatalogName
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class LogMount(_Model):
    """A bind mount the operator declared, so a container's pane logs are host-readable."""

    container_path: AbsolutePath
    """Where the mount is inside the container (pane logs are written below it)."""
    host_path: AbsolutePath
    """The same directory as the host sees it (agenttower reads logs there)."""


class TargetSpec(_Model):
    """Where the layout's tmux server runs: this host by default, a container, another
    machine reached with ssh, or a container on that machine (`host` and `container`)."""

    container: Name | None = None
    """A running docker container's name: its tmux server holds the panes (on `host` when set)."""
    host: SshHost | None = None
    """Another machine, reached with the system ssh client (a name from ~/.ssh/config works)."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """The ssh port on `host` (default: what the ssh config says, else 22)."""
    user: PlainText | None = None
    """Who tmux runs as: in a container, docker exec -u; on `host` without a container, the ssh login."""
    socket: Name | None = None
    """A tmux socket name (tmux -L); at most one of socket and socketPath."""
    socket_path: AbsolutePath | None = None
    """A tmux socket path (tmux -S); at most one of socket and socketPath."""
    log_mount: LogMount | None = None

    @model_validator(mode="after")
    def _one_socket(self) -> TargetSpec:
        if self.socket is not None and self.socket_path is not None:
            raise ValueError("set at most one of socket and socketPath")
        if self.host is not None and self.log_mount is not None:
            raise ValueError(
                "logMount names paths of this machine; on an ssh host (and in a container there) "
                "pane logs stay on that host and are read over ssh"
            )
        if self.port is not None and self.host is None:
            raise ValueError("port needs host")
        login = self.host is not None and self.container is None
        if login and self.user is not None and SSH_USER_RE.fullmatch(self.user) is None:
            raise ValueError(f"user {self.user!r} is not an ssh login ({what_rule(SSH_USER_RE)})")
        return self


class WorktreeSpec(_Model):
    """A git worktree of `repo` (as the target sees it) on `branch`, made before the pane
    starts and used as its working directory; `{layout}` and `{label}` name the branch."""

    repo: AbsolutePath
    branch: BranchPattern = "agenttower/{layout}/{label}"


class Workspace(_Model):
    worktree: WorktreeSpec


class TemplatePane(_Model):
    """One pane: what it is for, its label and the profile it runs."""

    role: Name
    """What the pane is for (e.g. master, slave): `send layout NAME --role` picks by it."""
    capability: Name
    """What its agent may do (e.g. orchestrator, worker)."""
    label_pattern: LabelPattern
    """The pane's label; {ordinal} counts panes of the same pattern from 1 (s{ordinal}: s1, s2)."""
    launch: CatalogName | None = None
    """The LaunchProfile this pane runs (default: shell)."""
    # a first task typed into the agent once, when the slot is first ready (never again)
    initial_input: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None
    workspace: Workspace | None = None  # its own git worktree as the working directory


class TemplateSpec(_Model):
    """The panes, in order, of every Layout that names this template."""

    panes: Annotated[list[TemplatePane], Field(min_length=1, max_length=64)]
    """1 to 64 panes, created in this order."""


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
    """The argv that starts a new conversation (a list, never a shell string)."""
    resume: Annotated[list[Arg], Field(min_length=1)] | None = None
    """The argv that continues the slot's conversation after a restart."""
    env: dict[EnvKey, Arg] = Field(default_factory=dict)
    """Environment variables for the command (keys with TOKEN, SECRET, KEY, PASSWORD are redacted)."""
    working_dir: AbsolutePath | None = None
    """The command's working directory (default: tmux's)."""
    agent: AgentName | None = None
    """The agent CLI it is: hooks wired at launch, screen rules and readiness of that CLI."""
    readiness: Readiness | None = None
    """The screen that says the agent is ready (default: the agent kind's, or none)."""
    screen: Annotated[list[ScreenRuleSpec], Field(max_length=64)] = Field(default_factory=list)
    """Extra screen patterns and the activity each means, before the agent kind's own."""


RestartPolicy = Literal["Never", "OnFailure", "Always"]
UpdateStrategy = Literal["OnDelete", "Recreate"]


class LayoutSpec(_Model):
    """What the layout is: where its tmux session runs, which panes it has, how they are kept."""

    target: TargetSpec = Field(default_factory=TargetSpec)
    """Where the layout's tmux server runs: the host by default, a container, an ssh host."""
    session: SessionName | None = None
    """The tmux session's name (default: metadata.name)."""
    template: CatalogName | None = None
    """A Template's name (built-in: 1m+2s, 2m+2s); exactly one of template and panes."""
    panes: Annotated[list[TemplatePane], Field(min_length=1, max_length=64)] | None = None
    """The panes written inline; exactly one of template and panes."""
    launch: dict[str, CatalogName] = Field(default_factory=dict)
    """Per-pane LaunchProfile overrides, keyed role:label (master:m1: claude)."""
    workspace: Workspace | None = None
    """Every pane's default workspace (a git worktree per pane); a pane's own wins."""
    tmux_layout: TmuxLayoutName | None = None
    """A tmux layout name (tiled, main-vertical, ...) or layout string for the session's window."""
    restart_policy: RestartPolicy = "Never"
    """What happens to a pane whose process exited or that vanished: Never, OnFailure or Always."""
    update_strategy: UpdateStrategy = "OnDelete"
    """What happens to a running pane whose spec changed: OnDelete (it is outdated) or Recreate."""
    suspend: bool = False
    """true pauses every action on the layout."""
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
