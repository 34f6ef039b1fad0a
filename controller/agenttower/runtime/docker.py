"""Facts about containers that tmux cannot give: is the engine up, does the container
exist and run, who does it run as, which bind mounts does it have.

A reconcile pass never calls these (a container's listing is one `docker exec`, and its
failure is classified from stderr); `agenttower doctor` does, to say why a container
target does not work and what to change. The binary is `$AGENTTOWER_DOCKER` (default
`docker`), so podman works too.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

INSPECT_TIMEOUT_S = 10.0


def docker_binary() -> str:
    return os.environ.get("AGENTTOWER_DOCKER") or "docker"


@dataclass(frozen=True)
class Mount:
    source: str  # the host path
    destination: str  # the path inside the container
    writable: bool


@dataclass(frozen=True)
class Container:
    name: str
    status: str  # running, exited, created, paused, restarting, dead
    user: str  # the image's default user ("" = root)
    mounts: tuple[Mount, ...] = field(default=())

    @property
    def running(self) -> bool:
        return self.status == "running"

    def mount_for(self, container_path: str) -> Mount | None:
        """The bind mount that holds `container_path` (the deepest one), if any."""
        path = container_path.rstrip("/") or "/"
        best: Mount | None = None
        for mount in self.mounts:
            dest = mount.destination.rstrip("/") or "/"
            inside = path == dest or path.startswith(dest + "/") or dest == "/"
            if inside and (best is None or len(dest) > len(best.destination.rstrip("/"))):
                best = mount
        return best


@dataclass(frozen=True)
class Answer:
    ok: bool
    stdout: str
    stderr: str


def run(argv: list[str], timeout: float = INSPECT_TIMEOUT_S) -> Answer:
    env = dict(os.environ)
    env.pop("TMUX", None)
    env.pop("TMUX_PANE", None)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Answer(False, "", f"{argv[0]} did not answer within {timeout:.0f}s")
    except OSError as exc:
        return Answer(False, "", f"cannot run {argv[0]}: {exc.strerror}")
    return Answer(proc.returncode == 0, proc.stdout, proc.stderr.strip())


def server_version(binary: str | None = None) -> Answer:
    """The engine's version (`docker version`): fails when the daemon does not answer."""
    return run([binary or docker_binary(), "version", "--format", "{{.Server.Version}}"])


def inspect(name: str, binary: str | None = None) -> Container | Answer | None:
    """The container, None when it does not exist, or the failed Answer (daemon down)."""
    answer = run([binary or docker_binary(), "container", "inspect", name])
    if not answer.ok:
        lowered = answer.stderr.lower()
        if "no such container" in lowered or "no such object" in lowered or "no container with" in lowered:
            return None
        return answer
    try:
        data: list[dict[str, Any]] = json.loads(answer.stdout)
        item = data[0]
        mounts = tuple(
            Mount(str(m.get("Source", "")), str(m.get("Destination", "")), bool(m.get("RW", True)))
            for m in item.get("Mounts") or ()
        )
        return Container(
            name=name,
            status=str((item.get("State") or {}).get("Status", "unknown")),
            user=str((item.get("Config") or {}).get("User") or ""),
            mounts=mounts,
        )
    except (ValueError, LookupError, TypeError, AttributeError):
        return Answer(False, answer.stdout, "unexpected `container inspect` output")
