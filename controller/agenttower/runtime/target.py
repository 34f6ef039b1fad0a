"""A target is an exec prefix: `tmux [-L socket | -S path]` on the host,
`docker exec -i [-u user] CONTAINER tmux …` for a container,
`ssh -o BatchMode=yes … [-l user] [-p port] HOST 'tmux' …` for another machine, and
both for a container on another machine: `ssh … HOST 'docker' 'exec' '-i' … 'tmux' …`,
where `docker` is that machine's own (on the PATH of a non-interactive ssh command
there; `$AGENTTOWER_DOCKER` names this machine's client, which is not the one that runs).

Everything else (the listing format, the `source-file -` batches on stdin) is the same
for all of them, so a container costs exactly as many execs as the host costs tmux
processes, and an ssh host (or a container there) as many ssh round trips
(runtime/ssh.py: one multiplexed connection, so a round trip is not a handshake).
Child processes run with `$TMUX` unset, so the host target is the user's default
server for `TMUX_TMPDIR` (or the layout's socket), never the server of the shell
agenttower happens to run in; `docker exec` passes none of our environment inside.

Every tmux call starts `tmux -u`. A tmux client decides from LC_ALL, LC_CTYPE or LANG
(the first one set) whether its terminal takes UTF-8; when none names UTF-8, tmux 3.3a
prints every non-printable character of a `-F` format, tab included, as `_`, so the
tab-separated listing arrives as one unparsable field per line. That is the case
inside a container whose image sets no locale (`debian:bookworm` as shipped; `docker
exec` passes none of ours), and on the host whenever LC_ALL=C is set (Python's C-locale
coercion only hides it when nothing is set). `-u` tells the client its output is UTF-8
whatever the locale says: checked with tmux 3.3a inside a container with no LANG, and
with LC_ALL=C, LC_CTYPE=POSIX and LANG=en_US.ISO-8859-1, for `list-panes -F` and for
the listing inside a `source-file -` batch. Setting LC_ALL=C.UTF-8 for the client is
not needed on top of it, and would change the environment new panes inherit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agenttower.model.resolved import Target

from . import ssh
from .docker import docker_binary

REMOTE_DOCKER = "docker"  # the docker client of an ssh host, as its shell finds it


@dataclass(frozen=True)
class ExecTarget:
    target: Target
    tmux_binary: str = "tmux"
    docker: str = ""  # the docker (or podman) binary; empty: $AGENTTOWER_DOCKER, else docker

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def is_container(self) -> bool:
        return self.target.container is not None

    @property
    def is_ssh(self) -> bool:
        return self.target.host is not None

    @property
    def local(self) -> bool:
        return self.target.local

    @property
    def program(self) -> str:
        """What runs first: the name to put in error messages."""
        if self.is_ssh:
            return ssh.ssh_binary()
        return self.docker_binary if self.is_container else self.tmux_binary

    @property
    def docker_binary(self) -> str:
        return self.docker or docker_binary()

    def command(self, *words: str, tty: bool = False) -> list[str]:
        """`words` run in the target: as they are on the host; after `docker exec -i
        [-u user] NAME` in a container (stdin carries batches); through ssh on another
        machine, quoted word by word (ssh joins its arguments with spaces and the remote
        shell splits them again), the `docker exec` words first for a container there.
        `tty`: for a tmux client a person uses (`attach`)."""
        spec = self.target
        if spec.container is not None:
            docker = self.docker_binary if spec.host is None else REMOTE_DOCKER
            user = ["-u", spec.user] if spec.user else []
            words = (docker, "exec", "-it" if tty else "-i", *user, spec.container, *words)
        if spec.host is not None:
            return ssh.argv(spec, list(words), tty)
        return list(words)

    def tmux_words(self) -> list[str]:
        """The tmux client as the target runs it, options included (`tmux -u [-L S]`)."""
        # in a container or on another machine tmux is whatever `tmux` is on its PATH:
        # AGENTTOWER_TMUX names a binary of this host
        tmux = self.tmux_binary if self.local else "tmux"
        words = [tmux, "-u"]  # UTF-8 output whatever the locale (above)
        if self.target.socket is not None:
            words += ["-L", self.target.socket]
        elif self.target.socket_path is not None:
            words += ["-S", self.target.socket_path]
        return words

    def argv(self, *args: str, tty: bool = False) -> list[str]:
        return self.command(*self.tmux_words(), *args, tty=tty)

    @staticmethod
    def environment() -> dict[str, str]:
        env = dict(os.environ)
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        return env
