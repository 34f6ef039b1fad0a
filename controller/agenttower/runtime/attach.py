"""The tmux client a person's terminal becomes to look at a pane: which command, which env.

`-t %N` is enough to land on the pane: for a pane target both `attach-session` and
`switch-client` make that pane's window current and the pane active (tmux 3.2+,
cmd-attach-session.c and cmd-switch-client.c). From inside a client of the same server
($TMUX names its socket) a second client would nest, so that client switches instead;
from a client of another server (or none) a new client attaches, with $TMUX unset so
tmux accepts the nesting it otherwise refuses. A container's server is never the one
$TMUX names: the client runs in it, `docker exec -it`, which passes none of our env.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .target import ExecTarget


@dataclass(frozen=True)
class Client:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    switch: bool  # switch-client: returns at once, the user's own client moved


def socket_path(target: ExecTarget, environ: Mapping[str, str]) -> str | None:
    """The socket a host target's server listens on, as tmux computes it; None for a
    container or an ssh host (its path is on another file system)."""
    spec = target.target
    if not target.local:
        return None
    if spec.socket_path is not None:
        return spec.socket_path
    base = environ.get("TMUX_TMPDIR") or "/tmp"
    return os.path.join(base, f"tmux-{os.getuid()}", spec.socket or "default")


def inside(target: ExecTarget, environ: Mapping[str, str]) -> bool:
    """Is this process in a client of the target's own server ($TMUX is `socket,pid,session`)?"""
    mine = socket_path(target, environ)
    theirs = environ.get("TMUX", "").split(",")[0]
    if mine is None or not theirs:
        return False
    return os.path.realpath(mine) == os.path.realpath(theirs)


def client(target: ExecTarget, where: str, environ: Mapping[str, str] | None = None) -> Client:
    """The client for `where` (a pane id `%N`, or `=SESSION` for a whole layout)."""
    environ = dict(os.environ if environ is None else environ)
    if inside(target, environ):
        return Client(tuple(target.argv("switch-client", "-t", where)), environ, True)
    env = {k: v for k, v in environ.items() if k not in ("TMUX", "TMUX_PANE")}
    return Client(tuple(target.argv("attach-session", "-t", where, tty=True)), env, False)
