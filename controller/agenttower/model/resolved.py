"""The desired state after resolution: concrete panes with labels, argv and spec hashes.

These frozen dataclasses are what the planner compares with records and tmux; they
hold no pydantic and no file I/O, so planning stays pure and cheap to hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .agents import AGENTS, Activity, ScreenRule
from .errors import SourceLocation


@dataclass(frozen=True)
class Target:
    """Where a layout's tmux server runs. `user` is who tmux runs as: in a container
    `docker exec -u` (here or on `host`), on an ssh host without a container the ssh
    login. A container on an ssh host is reached as the login the ssh config gives."""

    container: str | None = None
    user: str | None = None
    socket: str | None = None
    socket_path: str | None = None
    log_container_path: str | None = None
    log_host_path: str | None = None
    host: str | None = None  # another machine, reached with ssh
    port: int | None = None  # its ssh port (None: the ssh config's, else 22)

    @property
    def local(self) -> bool:
        """tmux runs on this machine, beside agenttower (not in a container, not over ssh)."""
        return self.container is None and self.host is None

    @property
    def login(self) -> str | None:
        """The ssh login (`ssh -l`): `user` on an ssh host, None in a container there
        (its `user` is the container's; ssh's config names the login)."""
        return self.user if self.host is not None and self.container is None else None

    @property
    def destination(self) -> str:
        """`[login@]host[:port]`: the ssh target as a key names it ("" for other targets)."""
        if self.host is None:
            return ""
        who = f"{self.login}@" if self.login else ""
        return f"{who}{self.host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def key(self) -> str:
        """`host`, `host:<socket>`, `container:<name>`, `ssh:[login@]host[:port]` (then
        `#<socket>` when it names one) or `ssh:host[:port]/container:<name>`: the name
        records and logs use. A container's key names the container, not its user or
        socket: one tmux server per container (reconcile/targets.py)."""
        server = self.socket if self.socket is not None else self.socket_path
        if self.host is not None:
            if self.container is not None:
                return f"ssh:{self.destination}/container:{self.container}"
            return f"ssh:{self.destination}" + (f"#{server}" if server is not None else "")
        if self.container is not None:
            return f"container:{self.container}"
        return "host" if server is None else f"host:{server}"

    @classmethod
    def of_key(cls, key: str) -> Target:
        """Rebuild a Target from its record key alone (`host`, `host:<socket>`, `host:/path`,
        `container:<name>`, `ssh:[login@]host[:port][#socket]`, `ssh:host[:port]/container:<name>`).
        The key holds no container user and no logMount: prefer `of_record`."""
        if key == "host":
            return cls()
        kind, _, rest = key.partition(":")
        if kind == "container":
            return cls(container=rest)
        if kind == "ssh":
            where, _, inside = rest.partition("/")  # an ssh host or login has no `/`
            if "#" not in where and inside.startswith("container:"):
                host, _, port = where.partition(":")
                number = int(port) if port.isdigit() else None
                return cls(host=host, port=number, container=inside.removeprefix("container:"))
            where, _, server = rest.partition("#")
            user, _, host = where.rpartition("@")
            host, _, port = host.partition(":")
            sockets = (
                ({"socket_path": server} if server.startswith("/") else {"socket": server}) if server else {}
            )
            return cls(host=host, user=user or None, port=int(port) if port.isdigit() else None, **sockets)
        return cls(socket_path=rest) if rest.startswith("/") else cls(socket=rest)

    @classmethod
    def of_record(cls, key: str, resolved: Mapping[str, Any] | None) -> Target:
        """A layout record's target: its stored resolved spec (`DesiredLayout.to_json()`,
        which keeps user, socket and logMount), else what the key alone says."""
        stored = (resolved or {}).get("target")
        if isinstance(stored, Mapping):
            try:
                target = cls(**stored)
            except TypeError:
                target = None
            if target is not None and target.key == key:
                return target
        return cls.of_key(key)


@dataclass(frozen=True)
class Probe:
    """A readiness probe: the screen pattern that says the agent is ready, and how long
    it has to show."""

    pattern: str
    timeout: float  # seconds


@dataclass(frozen=True)
class Worktree:
    """A pane's own git worktree: `path` is its working directory, found from `repo` and
    `branch` alone, so a restart or a resume lands in the same directory."""

    repo: str
    branch: str
    path: str

    @classmethod
    def at(cls, repo: str, branch: str) -> Worktree:
        """`<repo>/../<repo-name>.worktrees/<branch>`: beside the checkout, never inside it
        (the repo's own `git status` stays clean) and named after it."""
        parent, name = posixpath.split(posixpath.normpath(repo))
        return cls(repo, branch, posixpath.join(parent, f"{name}.worktrees", branch))


@dataclass(frozen=True)
class Launch:
    """`resume` continues the slot's conversation when a successor starts; it is not in
    the spec hash (a new resume argv needs no new process: the next start uses it)."""

    profile: str
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    resume: tuple[str, ...] | None = None
    agent: str | None = None  # a kind of model/agents.py: its hooks are wired at launch
    readiness: Probe | None = None
    screen: tuple[ScreenRule, ...] = ()  # the profile's own rules (the kind's come after)
    worktree: Worktree | None = None  # made before the pane starts; its path is working_dir

    def rules(self) -> tuple[ScreenRule, ...]:
        """What the screen means: the profile's rules first, then the agent kind's."""
        kind = AGENTS.get(self.agent) if self.agent else None
        return self.screen + (kind.screen if kind else ())

    @functools.cached_property
    def watched(self) -> bool:
        """Its screen is read every period: it has rules or a readiness probe. Asked for
        every pane twice a pass, so worked out once per launch."""
        return bool(self.readiness or self.rules())

    def to_json(self) -> dict[str, Any]:
        """As stored; fields at their default are left out, so a layout recorded before
        they existed keeps its fingerprint."""
        data = asdict(self)
        for key in ("agent", "readiness", "screen", "worktree"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Launch:
        probe = data.get("readiness")
        tree = data.get("worktree")
        return cls(
            profile=data["profile"],
            command=tuple(data["command"]) if data["command"] is not None else None,
            env=tuple((k, v) for k, v in data["env"]),
            working_dir=data["working_dir"],
            resume=tuple(data["resume"]) if data.get("resume") else None,
            agent=data.get("agent"),
            readiness=Probe(probe["pattern"], float(probe["timeout"])) if probe else None,
            screen=tuple(
                ScreenRule(Activity(r["activity"]), r["pattern"], r["reason"]) for r in data.get("screen", ())
            ),
            worktree=Worktree(tree["repo"], tree["branch"], tree["path"]) if tree else None,
        )


@dataclass(frozen=True)
class DesiredPane:
    label: str
    role: str
    capability: str
    launch: Launch
    spec_hash: str
    initial_input: str | None = None  # typed once per slot (not in the spec hash: no restart)


@dataclass(frozen=True)
class DesiredLayout:
    name: str
    session: str
    target: Target
    panes: tuple[DesiredPane, ...]
    tmux_layout: str | None = None
    restart_policy: str = "Never"
    update_strategy: str = "OnDelete"
    suspend: bool = False
    notify: tuple[str, ...] = ()  # run with an event's JSON on stdin (daemon/notify.py)
    annotations: tuple[tuple[str, str], ...] = ()
    source: SourceLocation | None = field(default=None, compare=False)
    spec: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @functools.cached_property
    def watched(self) -> bool:
        """Some pane's launch is watched (Launch.watched): worked out once per layout."""
        return any(p.launch.watched for p in self.panes)

    @functools.cached_property
    def _by_label(self) -> dict[str, DesiredPane]:
        return {p.label: p for p in self.panes}

    def pane(self, label: str) -> DesiredPane | None:
        """By label; a pass asks this for every pane of every layout (25 x 25 lookups)."""
        return self._by_label.get(label)

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)

    def to_json(self) -> dict[str, Any]:
        """Everything needed to plan this layout again without its manifest (held layouts)."""
        data = asdict(self)
        data["source"] = {"file": self.source.file, "line": self.source.line} if self.source else None
        for pane, desired in zip(data["panes"], self.panes, strict=True):
            pane["launch"] = desired.launch.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DesiredLayout:
        panes = tuple(
            DesiredPane(
                label=p["label"],
                role=p["role"],
                capability=p["capability"],
                launch=Launch.from_json(p["launch"]),
                spec_hash=p["spec_hash"],
                initial_input=p.get("initial_input"),
            )
            for p in data["panes"]
        )
        source = data.get("source")
        return cls(
            name=data["name"],
            session=data["session"],
            target=Target(**data["target"]),
            panes=panes,
            tmux_layout=data.get("tmux_layout"),
            restart_policy=data.get("restart_policy", "Never"),
            update_strategy=data.get("update_strategy", "OnDelete"),
            suspend=bool(data.get("suspend", False)),
            notify=tuple(data.get("notify") or ()),
            annotations=tuple((k, v) for k, v in data.get("annotations", ())),
            source=SourceLocation(source["file"], source.get("line")) if source else None,
            spec=dict(data.get("spec") or {}),
        )

    def fingerprint(self, data: Mapping[str, Any] | None = None) -> str:
        """Changes whenever anything in the resolved spec changes (drives `generation`).
        Computed once per object: the controller's file cache hands back the same objects
        while the manifests are unchanged, so a no-op pass does not hash 40 layouts again.
        `data`: this layout's `to_json()` when the caller has it already (it is left as
        it was), so a new layout's record does not build it twice."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            data = self.to_json() if data is None else data
            # `notify` and `initial_input` came later: a layout without them keeps its hash
            body = {k: v for k, v in data.items() if k != "source" and (k != "notify" or v)}
            body["panes"] = [
                {k: v for k, v in pane.items() if k != "initial_input" or v is not None}
                for pane in data["panes"]
            ]
            cached = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return str(cached)


def spec_hash(launch: Launch, target: Target) -> str:
    """Hash of what needs a new process when it changes: argv, env, working dir, target."""
    fields: dict[str, Any] = {
        "command": list(launch.command) if launch.command is not None else None,
        "env": sorted(launch.env),
        "workingDir": launch.working_dir,
        "target": target.key,
    }
    if launch.agent is not None:  # its hooks change the argv; absent, old hashes stay valid
        fields["agent"] = launch.agent
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]
