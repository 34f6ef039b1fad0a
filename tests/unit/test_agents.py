"""Agent kinds (model/agents.py), the activity and readiness rules (reconcile/activity.py,
the planner's readiness stage), the built-in agent profiles and the hook wiring."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttower.model.agents import (
    ACTIVITY_OPTION,
    AGENT_SESSION_OPTION,
    GEMINI_WRAPPER,
    Activity,
    ScreenRule,
    wired,
)
from agenttower.model.durations import rfc3339
from agenttower.model.lifecycle import Stage, State
from agenttower.model.resolved import DesiredLayout, Launch, Probe, spec_hash
from agenttower.reconcile import activity
from agenttower.reconcile.actions import Mark
from agenttower.reconcile.activity import Source
from agenttower.runtime.observe import Listing, ListingStatus, Screen
from agenttower.store import db
from agenttower.store.schema import MIGRATIONS
from tests.manifests import SLEEP, layout, profile

from .test_plan import desired, run
from .world import NOW, World, layout_record, observed, pane_record

CHANNEL = "agenttower-abc123"
CLAUDE = Launch("claude", ("claude",), agent="claude", readiness=Probe(r"^\s*>", 30.0))
PLAIN = Launch("plain", ("sh",))


def shot(text: str, changed: bool | None = None) -> Screen:
    """A screen read whose previous read differed (True), was the same (False) or was none."""
    return Screen(text, None if changed is None else (text + " before" if changed else text))


def record(**kw: object) -> object:
    layout_ = desired(layout("solo", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1"}]))
    return pane_record("lay_1", layout_["solo"].panes[0], 0, **kw)


def obs(hook: str = "") -> object:
    pane = record(tmux_pane_id="%1")
    return observed(pane, "solo", activity=hook)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- activity


def test_a_screen_that_says_waiting_wins_over_the_hooks_idle() -> None:
    """Gemini CLI fires SessionStart (idle) while its sign-in screen shows."""
    gemini = Launch("gemini", ("gemini",), agent="gemini")
    screen = Screen("How would you like to authenticate for this project?")
    verdict = activity.judge(gemini, obs("idle"), screen, record())  # type: ignore[arg-type]
    assert verdict == activity.Verdict(
        Activity.WAITING, "login screen: how would you like to authenticate?", Source.SCREEN
    )


def test_the_hook_wins_over_a_screen_rule_that_is_not_waiting() -> None:
    verdict = activity.judge(CLAUDE, obs("idle"), Screen("esc to interrupt"), record())  # type: ignore[arg-type]
    assert verdict == activity.Verdict(Activity.IDLE, activity.HOOK_REASONS[Activity.IDLE], Source.HOOK)


def test_codex_whose_hook_only_says_done_is_working_by_its_screen() -> None:
    codex = Launch("codex", ("codex",), agent="codex")
    verdict = activity.judge(codex, obs("idle"), Screen("Working (esc to interrupt)"), record())  # type: ignore[arg-type]
    assert verdict == activity.Verdict(Activity.WORKING, "busy (screen)", Source.SCREEN)
    verdict = activity.judge(codex, obs("idle"), Screen("done\n\u203a "), record())  # type: ignore[arg-type]
    assert verdict is not None and (verdict.activity, verdict.source) == (Activity.IDLE, Source.HOOK)


def test_between_two_screen_reads_a_screens_waiting_stands() -> None:
    waiting = record(activity=Activity.WAITING, activity_reason="login screen", activity_source="screen")
    assert activity.judge(CLAUDE, obs("idle"), None, waiting) is None  # type: ignore[arg-type]
    hooked = record(activity=Activity.WAITING, activity_reason="x", activity_source="hook")
    verdict = activity.judge(CLAUDE, obs("working"), None, hooked)  # type: ignore[arg-type]
    assert verdict is not None and verdict.activity is Activity.WORKING


@pytest.mark.parametrize(
    "text, changed, expected",
    [
        ("busy\nmore", True, (Activity.WORKING, "screen changing")),
        ("busy\nmore", False, (Activity.IDLE, "screen still")),
        ("output\n> ", None, (Activity.IDLE, "at its prompt (screen)")),
        ("output", None, None),  # a first read that shows nothing known: nothing is said
    ],
)
def test_without_a_hook_the_screen_decides(text: str, changed: bool | None, expected: object) -> None:
    launch = Launch(
        "x", ("x",), readiness=Probe("^> ?$", 5.0), screen=(ScreenRule(Activity.WAITING, "nope", "r"),)
    )
    verdict = activity.judge(launch, obs(), shot(text, changed), record())  # type: ignore[arg-type]
    assert (None if verdict is None else (verdict.activity, verdict.reason)) == expected


def test_an_option_value_that_is_not_an_activity_is_ignored() -> None:
    assert activity.judge(CLAUDE, obs("bogus"), None, record()) is None  # type: ignore[arg-type]
    assert activity.judge(CLAUDE, obs("unknown"), None, record()) is None  # type: ignore[arg-type]


def test_the_profiles_rules_come_before_the_kinds() -> None:
    mine = ScreenRule(Activity.IDLE, "Do you trust", "mine")
    launch = replace(CLAUDE, screen=(mine,))
    assert launch.rules()[0] == mine and len(launch.rules()) > 1
    assert PLAIN.rules() == () and not PLAIN.watched and CLAUDE.watched


def test_readiness_needs_the_prompt_and_no_waiting_screen() -> None:
    assert activity.is_ready(CLAUDE, Screen("hello\n> ", "hello\n> "))
    assert activity.is_ready(CLAUDE, Screen("hello\n> \nmore", "> "))  # the prompt on both reads
    assert not activity.is_ready(CLAUDE, Screen("hello\n> "))  # a first read: it may be a passing frame
    assert not activity.is_ready(CLAUDE, Screen("hello\n> ", "starting"))
    assert not activity.is_ready(CLAUDE, Screen("hello", "hello"))
    assert not activity.is_ready(CLAUDE, Screen("> Do you trust the files in this folder?", "> "))


# ----------------------------------------------------------------------------- readiness stage


def _waiting_world(
    screen: str | None, ready_by_in: float, dead: bool = False
) -> tuple[World, dict[str, DesiredLayout]]:
    want = desired(
        layout("solo", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "p"}]),
        profile("p", SLEEP, readiness={"pattern": "^>", "timeout": "30s"}),
    )
    rec = layout_record(want["solo"], State.CREATING)
    ready_by = rfc3339(NOW + timedelta(seconds=ready_by_in))
    pane = pane_record(rec.id, want["solo"].panes[0], 0, State.CREATING, tmux_pane_id="%7", ready_by=ready_by)
    seen = observed(pane, "solo", dead=dead)
    world = World([rec], [pane], {"host": [seen]}, {})
    if screen is not None:
        original = world.listings

        def listings() -> dict[str, Listing]:
            found = original()
            return {"host": replace(found["host"], screens={"%7": Screen(screen, screen)})}

        world.listings = listings  # type: ignore[method-assign]
    return world, want


def test_the_prompt_on_screen_makes_a_waiting_pane_ready() -> None:
    world, want = _waiting_world("welcome\n>", 10)
    result = run(world, want)
    assert [(a.detail, a.cause) for a in result.actions] == [
        (Mark(State.READY, None), "readiness probe matched")
    ]
    assert str(result.actions[0]) == "mark pane solo/m1 ready  # readiness probe matched"


def test_a_pane_whose_profile_dropped_its_probe_is_ready_without_one() -> None:
    world, want = _waiting_world(None, 10)
    want = desired(
        layout("solo", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "p"}]),
        profile("p", SLEEP),
    )
    marks = [a for a in run(world, want).actions if isinstance(a.detail, Mark)]  # beside the new spec
    assert [(a.detail, a.cause) for a in marks] == [(Mark(State.READY, None), "no readiness probe any more")]


def test_no_screen_read_yet_decides_nothing_and_requeues_at_the_deadline() -> None:
    world, want = _waiting_world(None, -5)  # past its deadline, but no screen read this pass
    result = run(world, want)
    assert result.actions == () and result.requeue_at is not None


def test_a_screen_read_past_the_deadline_without_the_prompt_degrades_it_as_readiness() -> None:
    world, want = _waiting_world("Sign in to continue", -1)
    (action,) = run(world, want).actions
    assert action.detail == Mark(State.DEGRADED, Stage.READINESS)
    assert action.cause == "readiness: no '^>' on screen within 30s"
    world, want = _waiting_world("Sign in to continue", 5)
    assert run(world, want).actions == ()  # before the deadline: wait


def test_a_process_that_exits_before_it_is_ready_is_degraded_as_launch_command() -> None:
    world, want = _waiting_world("x", 10, dead=True)
    (action,) = run(world, want).actions
    assert isinstance(action.detail, Mark) and action.detail.stage == Stage.LAUNCH_COMMAND
    assert action.detail.state == State.DEGRADED


def test_a_readiness_stage_is_not_restarted_by_policy() -> None:
    from agenttower.reconcile.restarts import wants_restart

    degraded = record(state=State.DEGRADED, failed_stage=Stage.READINESS)
    assert not wants_restart("Always", degraded)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- built-in profiles


def test_the_built_in_agent_profiles_are_all_a_layout_names() -> None:
    want = desired(layout("team", launch={"master:m1": "claude", "slave:s1": "codex", "slave:s2": "gemini"}))
    launches = {p.label: p.launch for p in want["team"].panes}
    assert {label: (lx.agent, lx.command, lx.resume) for label, lx in launches.items()} == {
        "m1": ("claude", ("claude", "--session-id", "{sessionId}"), ("claude", "--resume", "{sessionId}")),
        "s1": ("codex", ("codex",), ("codex", "resume", "{sessionId}")),
        "s2": ("gemini", ("gemini", "--session-id", "{sessionId}"), ("gemini", "--resume", "{sessionId}")),
    }
    assert all(lx.readiness is not None and lx.readiness.timeout == 60.0 for lx in launches.values())
    aider = desired(layout("a", launch={"master:m1": "aider"}))["a"].panes[0].launch
    assert aider.agent == "aider" and aider.rules()


def test_an_operator_profile_overrides_a_built_in_by_name() -> None:
    want = desired(layout("team", launch={"master:m1": "claude"}), profile("claude", ["my-claude"]))
    launch = want["team"].panes[0].launch
    assert (launch.command, launch.agent, launch.readiness) == (("my-claude",), None, None)


def test_new_launch_fields_change_no_plain_pane_hash_or_stored_spec() -> None:
    plain = Launch("p", ("sh",))
    assert set(plain.to_json()) == {"profile", "command", "env", "working_dir", "resume"}
    target = desired(layout("x"))["x"].target
    before = "340958ab878db28c"  # what spec_hash gave this launch before agent kinds existed
    assert spec_hash(plain, target) == before
    assert spec_hash(replace(plain, agent="claude"), target) != before  # its hooks change the argv
    rich = replace(CLAUDE, screen=(ScreenRule(Activity.WAITING, "a", "b"),))
    assert Launch.from_json(json.loads(json.dumps(rich.to_json()))) == rich


# ----------------------------------------------------------------------------- hook wiring


def test_claude_gets_its_hooks_as_extra_settings() -> None:
    argv = wired(("claude", "--resume", "x"), "claude", CHANNEL)
    assert argv[:4] == ("claude", "--resume", "x", "--settings")
    hooks = json.loads(argv[4])["hooks"]
    assert set(hooks) == {"SessionStart", "UserPromptSubmit", "Notification", "Stop"}
    assert hooks["Notification"][0]["matcher"] == "permission_prompt"
    commands = [h["command"] for groups in hooks.values() for g in groups for h in g["hooks"]]
    assert all(f"wait-for -S {CHANNEL}" in c and ACTIVITY_OPTION in c for c in commands)
    assert AGENT_SESSION_OPTION in hooks["SessionStart"][0]["hooks"][0]["command"]


def test_codex_gets_a_notify_program_and_aider_and_plain_commands_nothing() -> None:
    argv = wired(("codex",), "codex", CHANNEL)
    assert argv[:2] == ("codex", "-c") and argv[2].startswith("notify=")
    program = json.loads(argv[2].removeprefix("notify="))
    assert program[:2] == ["sh", "-c"] and CHANNEL in program[2]
    assert wired(("aider",), "aider", CHANNEL) == ("aider",)
    assert wired(("sh",), None, CHANNEL) == ("sh",)


def test_gemini_reads_its_hooks_from_a_private_file_the_wrapper_writes() -> None:
    argv = wired(("gemini", "--resume", "latest"), "gemini", CHANNEL)
    assert argv[:4] == ("sh", "-c", GEMINI_WRAPPER, "agenttower-gemini")
    assert json.loads(argv[4])["hooks"]["SessionStart"] and argv[5:] == ("gemini", "--resume", "latest")
    # the wrapper itself, run for real with a stand-in for gemini that shows what it got
    show = (
        "sh",
        "-c",
        'f="$GEMINI_CLI_SYSTEM_DEFAULTS_PATH"; [ -n "$f" ] && echo "$f" && stat -c %a "${f%/*}" && cat "$f"',
        "g",
    )
    run = subprocess.run([*argv[:5], *show], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    if os.getuid() != 0:  # Gemini CLI reads system defaults only from root's files: left unwired
        assert run.returncode == 1 and run.stdout == ""
        return
    path, mode, content = run.stdout.split("\n", 2)
    try:
        assert path.startswith("/run/agenttower-gemini.") and mode == "700"
        assert json.loads(content) == json.loads(argv[4])
    finally:
        shutil.rmtree(Path(path).parent)


# ----------------------------------------------------------------------------- migration


def test_the_readiness_stage_migration_keeps_every_row_and_reference(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    before = next(i for i, m in enumerate(MIGRATIONS) if isinstance(m, str) and "activity" in m)
    for script in MIGRATIONS[:before]:
        assert isinstance(script, str)
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.execute(
        "INSERT INTO layouts(id,name,target_key,session,state,spec_json,created_at,updated_at)"
        " VALUES ('lay','l','host','l','ready','{}','t','t')"
    )
    pane = (
        "INSERT INTO panes(id,layout_id,label,role,capability,slot,state,failed_stage,spec_hash,launch_json,"
        "marker_token,owner,predecessor_id,created_at,updated_at)"
        " VALUES (?,'lay','m1','r','c',0,?,?,'h','{}','t','o',?,'t','t')"
    )
    conn.execute(pane, ("p1", "failed", "launch_command", None))
    conn.execute(pane, ("p2", "ready", None, "p1"))
    conn.execute(
        "INSERT INTO agents(id,pane_id,origin,target_key,created_at) VALUES ('a','p2','managed','host','t')"
    )
    conn.close()

    store = db.connect(path)
    rows = store.execute("SELECT id, state, predecessor_id, activity FROM panes ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("p1", "failed", None, "unknown"), ("p2", "ready", "p1", "unknown")]
    assert store.execute("PRAGMA foreign_key_check").fetchall() == []
    assert int(store.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS)
    names = {r[0] for r in store.execute("SELECT name FROM sqlite_schema WHERE tbl_name='panes'")}
    assert {"panes_live_label", "panes_layout"} <= names
    store.execute("UPDATE panes SET failed_stage='readiness' WHERE id='p1'")  # the new stage is allowed
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("UPDATE panes SET failed_stage='elsewhere' WHERE id='p1'")
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("UPDATE panes SET activity='busy' WHERE id='p1'")
    store.close()


def test_a_listing_without_screens_is_still_a_listing() -> None:
    assert Listing("host", ListingStatus.OK).screens == {}


# ----------------------------------------------------------------------------- properties

_SCREENS = [
    None,
    "",
    "welcome\n> ",
    "How would you like to authenticate for this project?",
    "Do you trust the files in this folder?",
    "Working (esc to interrupt)",
    "Sign in with ChatGPT",
    "some output",
]


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([None, "claude", "codex", "gemini", "aider"]),
    hook=st.sampled_from(["", "working", "waiting", "idle", "unknown", "junk"]),
    text=st.sampled_from(_SCREENS),
    changed=st.sampled_from([None, True, False]),
    before=st.sampled_from(list(Activity)),
    source=st.sampled_from([None, "hook", "screen", "process"]),
)
def test_property_an_activity_once_recorded_is_not_recorded_again(
    kind: str | None, hook: str, text: str | None, changed: bool | None, before: Activity, source: str | None
) -> None:
    """What a pass records, the next pass on the same observation leaves as it is (no
    event per pass), and a verdict never comes from a screen that was not read."""
    launch = Launch("p", ("x",), agent=kind, readiness=Probe("^> ?$", 5.0))
    screen = shot(text, changed) if text is not None else None
    pane = record(activity=before, activity_reason="earlier", activity_source=source)
    verdict = activity.judge(launch, obs(hook), screen, pane)  # type: ignore[arg-type]
    if verdict is None:
        return
    assert screen is not None or verdict.source is Source.HOOK
    after = replace(  # type: ignore[type-var]
        pane, activity=verdict.activity, activity_reason=verdict.reason, activity_source=verdict.source
    )
    again = activity.judge(launch, obs(hook), screen, after)  # type: ignore[arg-type]
    assert again is None or not again.differs(after)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([None, "claude", "codex", "gemini", "aider"]),
    hook=st.sampled_from(["", "working", "waiting", "idle"]),
    text=st.sampled_from([t for t in _SCREENS if t is not None]),
    changed=st.sampled_from([None, True, False]),
)
def test_property_passes_between_two_screen_reads_do_not_flap(
    kind: str | None, hook: str, text: str, changed: bool | None
) -> None:
    """Screens are read once a period and passes run between reads: the same hook and the
    same screen settle on one activity, not one per kind of pass."""
    launch = Launch("p", ("x",), agent=kind, readiness=Probe("^> ?$", 5.0))
    pane = record()
    trace = []
    for screen in [shot(text, changed), None] * 3:
        verdict = activity.judge(launch, obs(hook), screen, pane)  # type: ignore[arg-type]
        if verdict is not None:
            pane = replace(  # type: ignore[type-var]
                pane,
                activity=verdict.activity,
                activity_reason=verdict.reason,
                activity_source=verdict.source,
            )
        trace.append((pane.activity, pane.activity_reason))  # type: ignore[attr-defined]
    assert trace[2] == trace[3] == trace[4] == trace[5], trace
