"""runtime/screen.py on a real tmux server: the screens of several panes in one
invocation, a pane that is gone left out (not shown as an empty screen)."""

from __future__ import annotations

import pytest

from agenttower.model.resolved import Target
from agenttower.runtime.screen import capture, split_screens
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux
from tests.conftest import Env, eventually

pytestmark = pytest.mark.tmux


def test_every_pane_is_captured_by_one_invocation_and_a_missing_pane_is_left_out(env: Env) -> None:
    env.tmux("new-session", "-d", "-s", "scr", "-x", "80", "-y", "10", "printf 'one\\n'; exec sleep 60")
    env.tmux("split-window", "-t", "=scr:", "printf 'two\\nlines\\n'; exec sleep 60")
    ids = env.tmux("list-panes", "-t", "=scr:", "-F", "#{pane_id}").stdout.split()
    tmux = Tmux(ExecTarget(Target()))

    def both() -> dict[str, str] | None:
        screens = dict(capture(tmux, [ids[0], "%999", ids[1]]))
        return screens if "lines" in screens.get(ids[1], "") and "one" in screens.get(ids[0], "") else None

    screens = eventually(both, what="both screens")
    assert set(screens) == {ids[0], ids[1]}
    assert screens[ids[0]] == "one" and screens[ids[1]] == "two\nlines"
    before = tmux.invocations
    capture(tmux, ids)
    assert tmux.invocations - before == 1
    assert capture(tmux, []) == {} and tmux.invocations - before == 1


def test_a_screen_cannot_forge_a_marker() -> None:
    out = "agenttower-screen-abc %1\nagenttower-screen-zzz %2\nrow\nagenttower-screen-abc %3\nx\n"
    assert split_screens(out, "abc") == {"%1": "agenttower-screen-zzz %2\nrow", "%3": "x"}
