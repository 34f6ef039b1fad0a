"""Which tmux client `attach` becomes: attach or switch by the server $TMUX names, `-L`/`-S`
kept, `docker exec -it` for a container, $TMUX dropped only where a client nests."""

from __future__ import annotations

import os

import pytest

from agenttower.model.resolved import Target
from agenttower.runtime.attach import client, inside, socket_path
from agenttower.runtime.target import ExecTarget

UID = os.getuid()


def test_a_host_pane_outside_tmux_gets_a_new_client_on_the_pane() -> None:
    chosen = client(ExecTarget(Target()), "%3", {"TMUX_TMPDIR": "/t", "HOME": "/h"})
    assert chosen.argv == ("tmux", "-u", "attach-session", "-t", "%3") and not chosen.switch
    assert chosen.env == {"TMUX_TMPDIR": "/t", "HOME": "/h"}


def test_inside_a_client_of_the_same_server_it_switches_and_keeps_tmux_env() -> None:
    environ = {"TMUX_TMPDIR": "/t", "TMUX": f"/t/tmux-{UID}/agents,123,0", "TMUX_PANE": "%1"}
    chosen = client(ExecTarget(Target(socket="agents"), "/usr/bin/tmux"), "=team", environ)
    assert chosen.argv == ("/usr/bin/tmux", "-u", "-L", "agents", "switch-client", "-t", "=team")
    assert chosen.switch and chosen.env == environ


def test_inside_a_client_of_another_server_it_nests_without_tmux_env() -> None:
    environ = {"TMUX": f"/tmp/tmux-{UID}/default,123,0", "TMUX_PANE": "%1", "TERM": "screen"}
    chosen = client(ExecTarget(Target(socket_path="/run/x/sock")), "%9", environ)
    assert chosen.argv == ("tmux", "-u", "-S", "/run/x/sock", "attach-session", "-t", "%9")
    assert not chosen.switch and chosen.env == {"TERM": "screen"}
    assert inside(ExecTarget(Target()), environ)  # the default socket under /tmp
    assert not inside(ExecTarget(Target(socket="other")), environ)
    assert not inside(ExecTarget(Target()), {})


def test_a_container_pane_is_attached_with_a_terminal_inside_the_container() -> None:
    target = ExecTarget(Target(container="box", user="dev", socket="s"), docker="docker")
    environ = {"TMUX": f"/tmp/tmux-{UID}/s,1,0"}  # a host server of the same socket name
    chosen = client(target, "%2", environ)
    assert chosen.argv == (
        "docker", "exec", "-it", "-u", "dev", "box", "tmux", "-u", "-L", "s", "attach-session", "-t", "%2"
    )  # fmt: skip
    assert not chosen.switch and socket_path(target, environ) is None
    assert target.argv("list-panes")[:3] == ["docker", "exec", "-i"]  # batches keep `-i` alone


def test_an_ssh_pane_is_attached_with_a_terminal_on_that_host_never_switched_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTTOWER_SSH", "ssh")
    target = ExecTarget(Target(host="box", user="dev", socket="s"))
    environ = {"TMUX": f"/tmp/tmux-{UID}/s,1,0"}  # a server of this host with the same socket name
    chosen = client(target, "=team", environ)
    assert chosen.argv[0] == "ssh" and "-tt" in chosen.argv and not chosen.switch
    assert chosen.argv[-3:] == ("--", "box", "tmux -u -L s attach-session -t =team")
    assert socket_path(target, environ) is None
