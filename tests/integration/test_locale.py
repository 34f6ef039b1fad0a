"""Observation must not depend on the locale agenttower (or its tmux client) runs in.

A tmux 3.3a client that does not think its output is UTF-8 prints the tabs of the
listing format as `_`. On the host that happens with LC_ALL=C; in a container it is the
default of an image that sets no locale (tests/integration/test_containers.py covers
that one). agenttower passes `-u` to every tmux call; the second test takes that flag
away again through a wrapper, to check that a listing tmux sanitised is never read as
"no panes".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

LABELS = ["master:m1", "master:m2", "slave:s1", "slave:s2"]


def c_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """agenttower's process (and every child it starts) in the C locale, nothing else set."""
    for var in list(os.environ):
        if var == "LANG" or var == "LANGUAGE" or var.startswith("LC_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("LC_ALL", "C")


def team(env: Env) -> Path:
    return write(
        env.root / "plain.yaml",
        layout("plain", "2m+2s", launch=dict.fromkeys(LABELS, "sleepy")),
        profile("sleepy", SLEEP),
    )


def items(at: type[AtCli]) -> list[dict[str, dict[str, str]]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict)
    return list(data["items"])


def managed(env: Env) -> list[str]:
    return sorted(p["record"] for p in env.panes() if p["record"])


def test_fr004_a_2m2s_layout_converges_with_the_tmux_client_in_the_c_locale(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    c_locale(monkeypatch)
    path = team(env)
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    panes = items(at)
    assert sorted(p["metadata"]["name"] for p in panes) == ["plain/m1", "plain/m2", "plain/s1", "plain/s2"]
    assert {p["status"]["state"] for p in panes} == {"ready"}
    assert managed(env) == sorted(p["status"]["id"] for p in panes)  # one tmux pane per record
    again = at.run("apply", "-f", str(path))
    assert again.exit_code == 0 and "layout/plain unchanged" in again.stdout, again.output + again.stderr
    assert len(env.panes()) == 4
    assert env.tmux_calls(raw=True) and all(c.startswith("-u ") for c in env.tmux_calls(raw=True))


def test_fr022_a_listing_tmux_sanitised_is_indeterminate_never_no_panes(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported failure: tmux created the panes, the listing parsed to nothing, and
    every pane was failed as `pane_create`, re-spawned by the next pass, never killed."""
    wrapper = env.root / "tmux-without-u"
    wrapper.write_text('#!/bin/sh\n[ "$1" = -u ] && shift\nLC_ALL=C exec tmux "$@"\n')  # PATH: the shim
    wrapper.chmod(0o755)
    monkeypatch.setenv("AGENTTOWER_TMUX", str(wrapper))
    path = team(env)

    first = at.run("apply", "-f", str(path))
    created = managed(env)
    assert len(created) == 4, env.panes()  # tmux did create them ...
    states = {p["status"]["state"] for p in items(at)}
    assert states == {"creating"}, first.output + first.stderr  # ... and nobody claims it did not

    for _ in range(2):  # passes that still cannot read the listing change nothing, and say why
        again = at.run("apply", "-f", str(path))
        assert "tab-separated" in again.stderr, again.output + again.stderr
        assert managed(env) == created and {p["status"]["state"] for p in items(at)} == {"creating"}
    deleted = at.run("delete", "layout", "plain")
    assert deleted.exit_code != 0 and "tab-separated" in deleted.stderr, deleted.output + deleted.stderr
    assert managed(env) == created  # nothing killed blind ...
    assert "removed" not in {p["status"]["state"] for p in items(at)}  # ... nor marked as if it were

    monkeypatch.delenv("AGENTTOWER_TMUX")  # a readable listing again: the same panes are found
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    panes = items(at)
    assert {p["status"]["state"] for p in panes} == {"ready"}
    assert sorted(p["status"]["id"] for p in panes) == created == managed(env)  # no duplicate
