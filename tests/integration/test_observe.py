"""The listing's format leaves out what only some panes need (runtime/observe.py): checked
against a real tmux that it still reads every pane as the plain format of every field does.

An exit is expanded only for a dead pane, and window, index, pid and title only for a pane
no agenttower owns, so a wrong conditional would show here as a dead pane without its
status, a signal read as a status, a shifted column, or a foreign pane without its title.
"""

from __future__ import annotations

import dataclasses

import pytest

from agenttower.model.resolved import Target
from agenttower.runtime.observe import FIELDS, parse_listing
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from tests.conftest import Env, eventually

pytestmark = pytest.mark.tmux

PLAIN = "\t".join("#{" + name + "}" for name in FIELDS)


def exited(env: Env, pane: str, expected: str) -> bool:
    """Debian's tmux can miss a pane's SIGCHLD until another child exits: nudge it."""
    seen = env.tmux(
        "display-message", "-p", "-t", pane, "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
    )
    if seen.stdout.strip() == "1::":
        env.tmux("run-shell", "true")
    return seen.stdout.strip() == expected


def test_fr020_the_listing_reads_exits_and_titles_as_every_field_expanded_does(env: Env) -> None:
    env.tmux("new-session", "-d", "-s", "mine", "-x", "80", "-y", "24", "sleep 600")
    env.tmux("set-option", "-g", "remain-on-exit", "on")
    env.tmux("select-pane", "-t", "=mine:", "-T", "title of mine")
    status = env.tmux(
        "split-window", "-P", "-F", "#{pane_id}", "-t", "=mine:", "sh", "-c", "exit 3"
    ).stdout.strip()
    signal = env.tmux(
        "split-window", "-P", "-F", "#{pane_id}", "-t", "=mine:", "sh", "-c", "kill -9 $$"
    ).stdout.strip()
    ours = env.tmux("split-window", "-P", "-F", "#{pane_id}", "-t", "=mine:", "sleep 600").stdout.strip()
    env.tmux("set-option", "-p", "-t", ours, "@agenttower_pane", "pane_1")
    env.tmux("select-pane", "-t", ours, "-T", "@MANAGED:token:m1")
    eventually(lambda: exited(env, status, "1:3:"), what="exit status 3")
    eventually(lambda: exited(env, signal, "1::9"), what="signal 9")

    listing = Tmux(ExecTarget(Target())).list_panes()
    plain = parse_listing("host", env.tmux("list-panes", "-a", "-F", PLAIN).stdout)
    assert listing.known and len(listing.panes) == len(plain.panes) == 4
    by_id = {p.pane_id: p for p in listing.panes}
    for every in plain.panes:  # the same, but for what only `scan` shows of the pane that is ours
        unread = {"window_id": "", "pane_index": 0, "pid": None, "title": ""}
        expected = dataclasses.replace(every, **unread) if every.record_id else every
        assert by_id[every.pane_id] == expected
    alive = next(p for p in listing.panes if p.session == "mine" and p.pane_index == 0)
    assert (alive.dead, alive.dead_status, alive.dead_signal, alive.title) == (
        False,
        None,
        None,
        "title of mine",
    )
    assert (by_id[status].dead, by_id[status].dead_status, by_id[status].dead_signal) == (True, 3, None)
    assert (by_id[signal].dead, by_id[signal].dead_status, by_id[signal].dead_signal) == (True, None, 9)
    assert (by_id[ours].record_id, by_id[ours].title) == ("pane_1", "")
