"""The ssh client argv for a target on another machine, and what its failures mean.

agenttower runs the system `ssh` (`$AGENTTOWER_SSH`, default `ssh`), so the user's own
config, agent and known hosts decide how a host is reached; agenttower adds only what a
program needs: `BatchMode=yes` (a prompt would hang a pass: no password, no "accept this
host key?") and one multiplexed connection per destination (`ControlMaster=auto`,
`ControlPersist`), so a pass after the first costs one round trip per call, not one
handshake. The control sockets live under the state dir, named by a short hash of the
destination: a unix socket path holds about 104 bytes and ssh appends 17 characters of
its own while it sets the master up, so when the state dir is too deep they go to a
directory of ours under /tmp instead.

ssh exits 255 for its own failures and with the remote command's status otherwise, so
a failure is the network's or tmux's by the exit status, never by guessing from words;
the words only say which network failure it was (`SshFailure`), for `doctor`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import tempfile
from enum import StrEnum
from pathlib import Path

from agenttower.model.resolved import Target
from agenttower.paths import default_state_dir

COMMAND_NOT_FOUND = 127  # the remote shell's status for a missing program
SSH_FAILED = 255  # ssh's own exit status: the command did not run (or its connection broke)
CONNECT_TIMEOUT_S = 10
PERSIST_S = 600  # how long an idle master connection stays up (a resync period and more)
SOCKET_LIMIT = 100  # sun_path is 108 bytes on Linux, 104 on macOS; ssh adds 17 while binding


def ssh_binary() -> str:
    return os.environ.get("AGENTTOWER_SSH") or "ssh"


class SshFailure(StrEnum):
    """Why ssh could not run the command: each is indeterminate (records stay as they are)."""

    UNREACHABLE = "unreachable"  # no route, refused, timed out, unknown name: may pass (retried)
    AUTH_REFUSED = "auth_refused"  # no key the server takes (BatchMode: no password prompt)
    HOST_KEY = "host_key"  # the host key is unknown or changed: refused before anything runs
    DROPPED = "dropped"  # the connection broke during the call: may pass (retried)
    TMUX_MISSING = "tmux_missing"  # ssh worked, the remote shell found no `tmux`
    DOCKER_MISSING = "docker_missing"  # ssh worked, the remote shell found no `docker`
    UNKNOWN = "unknown"

    @property
    def transient(self) -> bool:
        return self in (SshFailure.UNREACHABLE, SshFailure.DROPPED)

    @property
    def advice(self) -> str:
        return _ADVICE[self]


_ADVICE = {
    SshFailure.UNREACHABLE: "check that the host is up and sshd listens (ssh HOST true)",
    SshFailure.AUTH_REFUSED: "load a key the host accepts into your ssh agent or ~/.ssh/config "
    "(agenttower runs ssh with BatchMode=yes: no password prompt)",
    SshFailure.HOST_KEY: "the host key is unknown or changed: verify it and update known_hosts "
    "(ssh HOST once by hand); agenttower never accepts a key by itself",
    SshFailure.DROPPED: "the connection broke mid-call; the next pass tries again",
    SshFailure.TMUX_MISSING: "install tmux on the host (on the PATH of a non-interactive ssh command)",
    SshFailure.DOCKER_MISSING: "install docker on the host (on the PATH of a non-interactive ssh command), "
    "or log in as a user who has it",
    SshFailure.UNKNOWN: "run `ssh -v HOST true` to see why",
}

# checked in this order: a changed host key also prints words about authentication
_MARKERS = (
    (
        SshFailure.HOST_KEY,
        (
            "host key verification failed",
            "remote host identification has changed",
            "no matching host key",
            "host key for",
            "known_hosts",
        ),
    ),
    (
        SshFailure.AUTH_REFUSED,
        ("permission denied", "too many authentication failures", "no supported authentication methods"),
    ),
    (
        SshFailure.UNREACHABLE,
        (
            "could not resolve hostname",
            "connection refused",
            "connection timed out",
            "no route to host",
            "network is unreachable",
            "operation timed out",
            "name or service not known",
            "temporary failure in name resolution",
        ),
    ),
    (
        SshFailure.DROPPED,
        (
            "connection closed",
            "connection reset",
            "broken pipe",
            "closed by remote host",
            "client_loop",
            "master failed",
            "lost connection",
            "timeout, server",
        ),
    ),
)


def failure(returncode: int, stderr: str, container: bool = False) -> SshFailure | None:
    """The network's (or the remote shell's) failure, or None: tmux (or, for a container
    on the host, `docker exec`) ran and answered. The remote shell's "not found" is about
    the first word it runs: `tmux`, or `docker` for a container (a `tmux` missing in the
    container is docker's answer, exit 126, classified as for a container here)."""
    if returncode == COMMAND_NOT_FOUND:
        return SshFailure.DOCKER_MISSING if container else SshFailure.TMUX_MISSING
    return classify(stderr) if returncode == SSH_FAILED else None


def classify(stderr: str) -> SshFailure:
    lowered = stderr.lower()
    for failure, markers in _MARKERS:
        if any(marker in lowered for marker in markers):
            return failure
    return SshFailure.UNKNOWN


def control_dir(state_dir: Path | None = None) -> Path:
    """Where the master sockets go (created 0700): `<state>/ssh`, or, when that path is
    too long for a socket, `$TMPDIR/agenttower-ssh-<uid>-<hash of the state dir>`."""
    state = state_dir or default_state_dir()
    here = state / "ssh"
    if len(str(here)) + 1 + 16 + 17 > SOCKET_LIMIT:
        digest = hashlib.sha256(str(state).encode()).hexdigest()[:10]
        here = Path(tempfile.gettempdir()) / f"agenttower-ssh-{os.getuid()}-{digest}"
    here.mkdir(parents=True, exist_ok=True, mode=0o700)
    return here


def control_path(target: Target, state_dir: Path | None = None) -> str:
    """One master per destination; `%%` because ssh expands `%` tokens in the path."""
    digest = hashlib.sha256(target.destination.encode()).hexdigest()[:16]
    return str(control_dir(state_dir) / digest).replace("%", "%%")


def options(target: Target) -> list[str]:
    return [
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT_S}",
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={control_path(target)}",
        "-o",
        f"ControlPersist={PERSIST_S}",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=2",
    ]


def argv(target: Target, words: list[str], tty: bool = False) -> list[str]:
    """`ssh OPTIONS [-l login] [-p port] -T|-tt -- HOST 'word' 'word' …`: each word quoted
    for the remote shell, so a label or a command with spaces and quotes arrives whole."""
    assert target.host is not None
    who = ["-l", target.login] if target.login else []
    port = ["-p", str(target.port)] if target.port is not None else []
    return [
        ssh_binary(),
        *options(target),
        *who,
        *port,
        "-tt" if tty else "-T",
        "--",
        target.host,
        " ".join(shlex.quote(word) for word in words),
    ]
