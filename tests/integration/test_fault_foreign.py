"""Fault suite, foreign panes: panes agenttower did not create, however much they look
like its own, are never killed, adopted or changed, by any pass.

The foreign panes: a pane hand-split into a managed session; a window added to it
whose pane copies a live pane's owner, record id and spec hash; panes of pre-existing
sessions whose names start with the layout's (`team-x`, `teamwork`: tmux matches
targets by prefix) copying a record id plus the pending token of a creation, or the
pending title marker; a pane of an unrelated session copying the owner and a record
id that does not exist. Then pass after pass: apply (nothing to do), a restart by
`restartPolicy: Always`, `remove pane`, `recreate pane`, a creation resumed after a
crash, a prune (the manifest moved out of the desired dir), apply again, delete. After
each one every foreign pane is still there with the same id, session, window, title
and pane options, no record or agent names it, and tests/invariants.py holds.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass

import pytest

from tests import fault_report
from tests.conftest import AtCli, Env, eventually
from tests.integration.test_crash import crash_at
from tests.invariants import instance_id, records, tmux_lister, violations
from tests.manifests import SLEEP, layout, profile, write

pytestmark = [pytest.mark.tmux, pytest.mark.usefixtures("fast")]

LAUNCH = {"master:m1": "p", "slave:s1": "p", "slave:s2": "p"}


@dataclass(frozen=True)
class Look:
    """Everything a pass could change about a pane."""

    session: str
    window: str
    title: str
    dead: str
    options: str


def look(env: Env, pane: str) -> Look | None:
    fmt = "#{pane_id}\t#{session_name}\t#{window_id}\t#{pane_title}\t#{pane_dead}"
    rows = env.tmux("list-panes", "-a", "-F", fmt, check=False).stdout.splitlines()
    for row in rows:
        pane_id, session, window, title, dead = row.split("\t")
        if pane_id == pane:
            options = env.tmux("show-options", "-p", "-t", pane).stdout
            return Look(session, window, title, dead, options)
    return None


def first_pane(env: Env, target: str) -> str:
    return env.tmux("display-message", "-p", "-t", target, "#{pane_id}").stdout.strip()


def tag(env: Env, target: str, **options: str) -> str:
    for option, value in options.items():
        env.tmux("set-option", "-p", "-t", target, f"@agenttower_{option}", value)
    return target


def tokens(env: Env) -> dict[str, tuple[str, str, str]]:
    """label -> (record id, pending token, spec hash), as stored."""
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT l.name || '/' || p.label, p.id, p.marker_token, p.spec_hash"
            " FROM panes p JOIN layouts l ON l.id=p.layout_id WHERE p.state != 'removed'"
        ).fetchall()
    return {name: (rid, token, spec) for name, rid, token, spec in rows}


def named(env: Env) -> set[str]:
    """tmux pane ids that a pane or agent record names."""
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT tmux_pane_id FROM panes UNION SELECT tmux_pane_id FROM agents").fetchall()
    return {r[0] for r in rows if r[0]}


def test_fr014_foreign_panes_survive_every_pass_untouched_and_unadopted(env: Env, at: type[AtCli]) -> None:
    for session in ("team-x", "teamwork", "bystander"):  # before agenttower ever ran
        env.tmux("new-session", "-d", "-s", session, "sleep 100000")
    desired = env.desired_dir
    team = write(
        env.root / "team.yaml", layout("team", launch=LAUNCH, restartPolicy="Always"), profile("p", SLEEP)
    )
    keep = write(env.root / "keep.yaml", layout("keep", launch={"master:m1": "q"}), profile("q", SLEEP))
    late = write(env.root / "late.yaml", layout("late", launch={"master:m1": "r"}), profile("r", SLEEP))
    passes: list[tuple[str, int, str]] = []

    def run(what: str, *args: str) -> None:
        result = at.run(*args)
        passes.append((what, result.exit_code, result.stderr.strip()[-300:]))
        assert "Traceback" not in result.output + result.stderr and "internal_error" not in result.stderr

    run("apply team", "apply", "-f", str(team), "--wait")
    run("apply keep", "apply", "-f", str(keep), "--wait")
    me = str(instance_id(env.state_dir))
    ids = tokens(env)
    crash_at(env, len(env.tmux_calls()) + 2, late)  # late/m1 committed `creating`, never spawned
    late_id, late_token, late_spec = tokens(env)["late/m1"]

    foreign = {
        "hand-split": env.tmux(
            "split-window", "-d", "-P", "-F", "#{pane_id}", "-t", "=team:", "sleep 100000"
        ).stdout.strip(),
        "copy-of-m1": tag(
            env,
            env.tmux(
                "new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "=team:", "sleep 100000"
            ).stdout.strip(),
            owner=me,
            pane=ids["team/m1"][0],
            spec=ids["team/m1"][2],
        ),
        "team-x-pending": tag(
            env, first_pane(env, "=team-x:"), owner=me, pane=late_id, pending=late_token, spec=late_spec
        ),
        "teamwork-title": first_pane(env, "=teamwork:"),
        "bystander": tag(env, first_pane(env, "=bystander:"), owner=me, pane="pane-0000nonesuch"),
    }
    env.tmux("select-pane", "-t", foreign["teamwork-title"], "-T", f"@MANAGED:{ids['team/s2'][1]}:s2")
    env.tmux("set-option", "-p", "-t", foreign["teamwork-title"], "@agenttower_owner", me)
    before = {name: look(env, pane) for name, pane in foreign.items()}
    assert all(before.values()), before

    def check(after: str) -> None:
        problems = []
        for name, pane in foreign.items():
            now = look(env, pane)
            if now != before[name]:
                problems.append(f"{name} ({pane}) changed: {before[name]} -> {now}")
        adopted = named(env) & set(foreign.values())
        problems += [f"recorded as ours: {sorted(adopted)}"] if adopted else []
        problems += violations(env.state_dir, {"host": tmux_lister(env.tmux)}, ignore=foreign.values())
        fault_report.tried("foreign-panes", True, len(foreign) if not problems else 0)
        fault_report.tried("foreign-panes", False, len(foreign) if problems else 0)
        assert not problems, f"after {after}:\n" + "\n".join(problems) + f"\npasses: {passes}"

    run("apply late (resumes the crashed creation)", "apply", "-f", str(late), "--wait")
    split = env.tmux("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", "=late:", "sleep 100000")
    foreign["late-split"] = split.stdout.strip()
    before["late-split"] = look(env, foreign["late-split"])
    check("the resumed creation")
    run("apply team (nothing to do)", "apply", "-f", str(team))
    check("a pass with nothing to do")
    s2 = next(
        r for r in records(env.state_dir) if r.layout == "team" and r.label == "s2" and r.state == "ready"
    )
    assert s2.tmux_pane_id
    env.tmux("kill-pane", "-t", s2.tmux_pane_id)

    def restarted() -> bool:
        run("apply team (restart)", "apply", "-f", str(team))
        return any(r.label == "s2" and r.state == "ready" and r.id != s2.id for r in records(env.state_dir))

    eventually(restarted, what="s2 restarted by its policy")
    check("a restart by restartPolicy Always")
    run("remove pane team/s1", "remove", "pane", "team/s1")
    check("remove pane")
    run("recreate pane team/s1", "recreate", "pane", "team/s1")
    check("recreate pane")
    moved = env.root / "aside" / "team.yaml"
    moved.parent.mkdir()
    (desired / "team.yaml").rename(moved)
    run("prune team (manifest removed)", "apply", "-f", str(keep))
    check("a prune")
    # the session agenttower made now holds foreign panes only: it is not taken back
    run("apply team again", "apply", "-f", str(team), "--wait")
    check("apply after the prune")
    run("delete late, keep", "delete", "layout", "late", "keep")
    check("delete")
    codes = {name: code for name, code, _ in passes}
    assert codes.pop("apply team again") == 1 and "managed_session_name_conflict" in passes[-2][2], passes
    assert set(codes.values()) == {0}, passes
