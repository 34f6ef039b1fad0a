"""One shared desired dir, one controller per host: the target-host selection against a
real tmux server. The controller that is host NAME runs the layouts whose target.host
is NAME (here, no ssh) and those with no host; another host's layout is never created,
and one it made before the selection changed is left exactly as it is (its vanished
pane is neither marked nor replaced, nothing is pruned) until it is selected again.
Any ssh call would be a bug: AGENTTOWER_SSH is a shim that logs and fails."""

from __future__ import annotations

import contextlib
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.manifests import SLEEP, layout, pane, profile, write

pytestmark = pytest.mark.tmux


def _on(name: str, host: str | None) -> dict[str, Any]:
    target = {"host": host} if host else {}
    panes = [pane("master", "m1", "sleepy"), pane("slave", "s1", "sleepy")]
    return layout(name, None, panes=panes, target=target, restartPolicy="Always")


def _records(at: type[AtCli]) -> dict[str, tuple[str, str, str]]:
    data = at.json("get", "panes")
    assert isinstance(data, dict)
    return {
        i["metadata"]["name"]: (i["status"]["state"], i["status"]["id"], i["status"]["target"])
        for i in data["items"]
    }


def _stored(env: Env) -> dict[str, tuple[str, str]]:
    """LAYOUT/LABEL -> (state, record id) of the current pane records, as stored."""
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT l.name, p.label, p.state, p.id FROM panes p JOIN layouts l ON p.layout_id = l.id "
            "WHERE p.state != 'removed' ORDER BY p.created_at"
        ).fetchall()
    return {f"{name}/{label}": (state, pane_id) for name, label, state, pane_id in rows}


def _events(env: Env) -> list[str]:
    return (env.state_dir / "events.jsonl").read_text().splitlines()


def _sessions(env: Env) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in env.panes():
        found[row["session"]] = found.get(row["session"], 0) + 1
    return found


@pytest.fixture
def no_ssh(env: Env, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = env.root / "ssh-calls.log"
    shim = env.root / "ssh-shim"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\nexit 255\n')
    shim.chmod(0o755)
    monkeypatch.setenv("AGENTTOWER_SSH", str(shim))
    return log


def test_a_controller_per_host_takes_its_own_and_hostless_layouts_and_leaves_the_others_alone(
    env: Env, at: type[AtCli], no_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_controller import Controller

    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "200ms")
    fleet = write(
        env.desired_dir / "fleet.yaml",
        _on("mine", "alpha"),
        _on("anywhere", None),
        _on("theirs", "beta"),
        profile("sleepy", SLEEP),
    )
    monkeypatch.setenv("AGENTTOWER_TARGET_HOST", "alpha")  # CLI passes select as the controller does
    applied = at.run("apply", "-f", str(env.desired_dir), "--wait")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert "layout theirs: its target.host is not alpha" in applied.stderr
    first = _records(at)
    assert sorted(first) == ["anywhere/m1", "anywhere/s1", "mine/m1", "mine/s1"]
    assert {target for _, _, target in first.values()} == {"host"}  # alpha's own: no ssh hop
    assert _sessions(env) == {"mine": 2, "anywhere": 2}
    # theirs never ran here: the normal case of a shared dir, no note in every pass
    assert "another host's" not in at.run("diff").stdout

    # the selection changes (this machine is beta now): mine is outside, and its pane dies
    monkeypatch.setenv("AGENTTOWER_TARGET_HOST", "beta")
    seen = len(_events(env))
    gone = next(r["pane_id"] for r in env.panes() if r["session"] == "mine")
    env.tmux("kill-pane", "-t", gone)
    for _ in range(2):  # a pass that would mark the death, one that would restart it
        result = at.run("apply", "-f", str(fleet), "--wait")
        assert result.exit_code == 0, result.output + result.stderr
    now = _records(at)
    # untouched: the same records in the same states although one of its panes is gone
    # (`get` shows what tmux shows: that pane as vanished; the record was not marked)
    assert {k: v for k, v in _stored(env).items() if k.startswith("mine/")} == {
        k: v[:2] for k, v in first.items() if k.startswith("mine/")
    }
    mine_ids = [v[1] for k, v in first.items() if k.startswith("mine/")]
    assert [line for line in _events(env)[seen:] if any(i in line for i in mine_ids)] == []  # no event either
    assert _sessions(env) == {"mine": 1, "anywhere": 2, "theirs": 2}
    assert {k: v for k, v in now.items() if k.startswith("anywhere/")} == {
        k: v for k, v in first.items() if k.startswith("anywhere/")
    }
    # a record of another host's layout is noted: its panes here are left as they are
    assert "mine: its target.host is another host's" in at.run("diff").stdout

    # alpha's controller (its flag wins over the environment): mine is selected again and
    # healed; theirs is outside now, and stays as it is
    theirs = {k: v for k, v in now.items() if k.startswith("theirs/")}
    ctl = Controller(env, "--target-host", "alpha").start(AGENTTOWER_BACKOFF_BASE="200ms")
    try:

        def healed() -> bool:
            states = {k: v[0] for k, v in _records(at).items() if k.startswith("mine/")}
            return states == {"mine/m1": "ready", "mine/s1": "ready"} and _sessions(env).get("mine") == 2

        eventually(healed, 30, "mine healed by alpha's controller")
        assert {k: v for k, v in _records(at).items() if k.startswith("theirs/")} == theirs
        assert _sessions(env)["theirs"] == 2
        # deleting another host's layout here removes its panes here, not its manifest
        deleted = at.run("delete", "layout", "theirs")
        assert deleted.exit_code == 0, deleted.output + deleted.stderr
        assert "theirs" not in _sessions(env) and "theirs" in fleet.read_text()
        again = at.run("delete", "layout", "theirs")  # nothing of it left here: said so, nothing cut
        assert again.exit_code == 1 and "another host's" in again.stderr, again.output + again.stderr
        assert "theirs" in fleet.read_text()
    finally:
        ctl.stop()
    assert not no_ssh.exists()  # nothing was ever asked over ssh
