"""The controller as a real process against a real tmux server: watch, self-heal,
prune safely, recover on boot, and take the CLI's requests over its socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from agenttower.daemon import protocol
from tests.conftest import AtCli, Env, eventually
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


class Controller:
    def __init__(self, env: Env, *args: str) -> None:
        self.env = env
        self.args = args
        self.log = env.root / "controller.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> Controller:
        """Run it; `env` overrides its settings (by default a short back-off base)."""
        extra = {"AGENTTOWER_BACKOFF_BASE": "300ms", **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agenttower", "controller", "run", "--resync", "2s", *self.args],
            env={**os.environ, **extra},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            start_new_session=True,
        )
        eventually(lambda: (self.env.state_dir / "agenttowerd.sock").exists(), what="controller socket")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def text(self) -> str:
        return self.log.read_text()

    def passes(self) -> int:
        """How many passes it has finished (its own count, answered from memory)."""
        answer = protocol.call(
            self.env.state_dir / "agenttowerd.sock", {"op": protocol.OBSERVATION}, timeout=5
        )
        return int(answer["passes"])

    def await_passes(self, more: int = 2) -> None:
        """Until `more` passes have finished after now: the second began after this call,
        so whatever it would change has been seen."""
        seen = self.passes()
        eventually(lambda: self.passes() >= seen + more, what=f"{more} more passes")


@pytest.fixture
def controller(env: Env) -> Iterator[Controller]:
    ctl = Controller(env)
    try:
        yield ctl
    finally:
        if ctl.proc is not None and ctl.proc.poll() is None:
            ctl.stop(signal.SIGKILL)


def panes(at: type[AtCli], *extra: str) -> list[dict[str, Any]]:
    result = at.run("get", "panes", *extra, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["items"]  # type: ignore[no-any-return]


def states(at: type[AtCli]) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"]["state"] for p in panes(at)}


def sleepy(name: str, **spec: Any) -> list[dict[str, Any]]:
    launch = {k: "sleepy" for k in ("master:m1", "slave:s1", "slave:s2")}
    return [layout(name, launch=launch, **spec), profile("sleepy", SLEEP)]


def ready(at: type[AtCli], *names: str) -> Callable[[], bool]:
    def check() -> bool:
        current = states(at)
        return all(current.get(f"{n}/{label}") == "ready" for n in names for label in ("m1", "s1", "s2"))

    return check


def test_manifest_dropped_into_the_desired_dir_converges(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    controller.start()
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    eventually(ready(at, "team"), what="team ready")
    assert len([p for p in env.panes() if p["record"]]) == 3
    assert controller.stop() == 0
    assert not (env.state_dir / "agenttowerd.sock").exists()


def test_atomic_rename_edit_is_applied_once(env: Env, at: type[AtCli], controller: Controller) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    controller.start()
    eventually(ready(at, "team"))
    staging = env.desired_dir / ".team.yaml.swp"  # how editors save: write aside, rename over
    write(staging, *sleepy("team", tmuxLayout="even-vertical"))
    os.replace(staging, env.desired_dir / "team.yaml")
    item = eventually(
        lambda: (lambda d: d if d["metadata"]["generation"] == 2 else None)(
            at.json("get", "layouts", "team")
        ),
        what="generation 2",
    )
    controller.await_passes()  # a resync later, still applied exactly once
    again = at.json("get", "layouts", "team")
    assert again["metadata"]["generation"] == 2 and again["status"]["observedGeneration"] == 2  # type: ignore[index]
    assert item["status"]["state"] == "ready"
    events = [json.loads(line) for line in (env.state_dir / "events.jsonl").read_text().splitlines()]
    assert sum(e["event_type"] == "managed_pane_created" for e in events) == 3  # nothing restarted
    assert "relayout team as even-vertical" in controller.text()


def test_git_checkout_of_another_branch_converges_to_it(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    repo = env.desired_dir
    repo.mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    write(repo / "team.yaml", *sleepy("alpha"))
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "alpha"], check=True)
    subprocess.run([*git, "checkout", "-qb", "other"], check=True)
    (repo / "team.yaml").unlink()
    write(repo / "beta.yaml", *sleepy("beta"))
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "beta"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    controller.start()
    eventually(ready(at, "alpha"))
    subprocess.run([*git, "checkout", "-q", "other"], check=True)
    eventually(lambda: ready(at, "beta")() and "alpha/m1" not in states(at), what="beta only")
    assert {p["session"] for p in env.panes()} == {"beta"}
    removed = [p for p in panes(at, "--all") if p["metadata"]["layout"] == "alpha"]
    assert {p["status"]["state"] for p in removed} == {"removed"}


def test_bad_edit_keeps_panes_sets_stalled_and_recovers(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    path = write(env.desired_dir / "team.yaml", *sleepy("team"))
    controller.start()
    eventually(ready(at, "team"))
    # the pane ids and their records (titles settle a moment after `ready`)
    identity = lambda: sorted((p["pane_id"], p["record"], p["dead"]) for p in env.panes())  # noqa: E731
    before = identity()
    good = path.read_text()
    path.write_text(good.replace('"exec sleep 600"', '"exec sleep 600"]]'))  # a syntax error

    def stalled() -> dict[str, Any] | None:
        item = at.json("get", "layouts", "team")
        conds = {c["type"]: c for c in item["status"]["conditions"]}  # type: ignore[index]
        return conds["Stalled"] if conds.get("Stalled", {}).get("status") == "True" else None

    cond = eventually(stalled, what="Stalled")
    assert cond["reason"] == "InvalidManifest" and f"{path}:" in cond["message"]
    controller.await_passes()
    assert identity() == before
    path.write_text(good)
    eventually(lambda: not stalled(), what="recovered")
    assert identity() == before


def test_emptying_the_dir_kills_nothing(env: Env, at: type[AtCli], controller: Controller) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    controller.start()
    eventually(ready(at, "team"))
    shutil.rmtree(env.desired_dir)
    controller.await_passes()
    assert len(env.panes()) == 3
    assert states(at) == {"team/m1": "ready", "team/s1": "ready", "team/s2": "ready"}
    assert "refusing to prune every layout" in controller.text()


def test_killed_always_pane_is_replaced_by_a_linked_successor(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team", restartPolicy="Always"))
    controller.start()
    eventually(ready(at, "team"))
    victim = next(p for p in panes(at) if p["spec"]["label"] == "s1")
    env.tmux("kill-pane", "-t", victim["status"]["tmuxPaneId"])

    def successor() -> dict[str, Any] | None:
        now = next(p for p in panes(at) if p["spec"]["label"] == "s1")
        return (
            now
            if now["status"]["id"] != victim["status"]["id"] and now["status"]["state"] == "ready"
            else None
        )

    new = eventually(successor, what="successor ready")
    assert new["status"]["predecessorId"] == victim["status"]["id"] and new["status"]["chainDepth"] == 1
    old = next(p for p in panes(at, "--all") if p["status"]["id"] == victim["status"]["id"])
    assert old["status"]["state"] == "removed" and old["status"]["failedStage"] == "recovery_reattach"
    assert len([p for p in env.panes() if p["record"]]) == 3


def test_exited_always_agent_is_respawned_in_place(env: Env, at: type[AtCli], controller: Controller) -> None:
    flaky = profile("flaky", ["sh", "-c", "sleep 0.8; exit 4"])
    write(
        env.desired_dir / "f.yaml",
        layout(
            "f",
            None,
            restartPolicy="Always",
            panes=[{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "flaky"}],
        ),
        flaky,
    )
    controller.start()

    def restarted_twice() -> list[dict[str, Any]] | None:
        records = panes(at, "--all")
        return records if len(records) >= 3 and all(p["status"]["tmuxPaneId"] for p in records[:3]) else None

    records = eventually(restarted_twice, what="two restarts")
    depths = [p["status"]["chainDepth"] for p in records[:3]]
    assert depths == [0, 1, 2]
    assert {p["status"]["tmuxPaneId"] for p in records[:3]} == {
        records[0]["status"]["tmuxPaneId"]
    }  # in place
    assert [p["status"]["predecessorId"] for p in records[1:3]] == [
        records[0]["status"]["id"],
        records[1]["status"]["id"],
    ]


def one_agent(name: str, argv: list[str]) -> list[dict[str, Any]]:
    solo = [{"role": "m", "capability": "c", "labelPattern": "m1", "launch": "agent"}]
    return [layout(name, None, restartPolicy="Always", panes=solo), profile("agent", argv)]


def events_of(env: Env, event_type: str) -> list[dict[str, Any]]:
    path = env.state_dir / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["event_type"] == event_type]


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_agent_that_was_stable_and_exits_is_restarted_at_once(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """Ready for longer than the stability window (1 s here), then exits: the next pass
    restarts it. The back-off base is 30 s, longer than the wait below, so only the
    immediate first restart can explain the successor."""
    write(env.desired_dir / "a.yaml", *one_agent("a", ["sh", "-c", "sleep 2.5; exit 3"]))
    controller.start(AGENTTOWER_STABLE_AFTER="1s", AGENTTOWER_BACKOFF_BASE="30s")

    def successor() -> tuple[dict[str, Any], dict[str, Any]] | None:
        records = {p["status"]["id"]: p for p in panes(at, "--all")}
        return next(
            (
                (records[p["status"]["predecessorId"]], p)
                for p in records.values()
                if p["status"]["predecessorId"]
            ),
            None,
        )

    first, second = eventually(successor, timeout=20, what="a successor well before a 30 s back-off")
    ended = when(first["status"]["endedAt"])
    assert when(first["status"]["readyAt"]) + timedelta(seconds=1) <= ended  # it was stable
    assert when(second["metadata"]["creationTimestamp"]) - ended < timedelta(seconds=10)
    assert second["status"]["chainDepth"] == 0  # a stable predecessor starts the chain over
    assert first["status"]["nextRestartAt"] is None
    assert events_of(env, "managed_pane_restart_backoff") == []


def test_crash_looping_agent_shows_its_held_restart_once(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    """Exits at once, again and again: restarted at once the first time, then held by
    back-off. The hold shows in `get` and is announced by one event, however many
    passes see it."""
    write(env.desired_dir / "loop.yaml", *one_agent("loop", ["sh", "-c", "sleep 0.5; exit 4"]))
    controller.start(AGENTTOWER_STABLE_AFTER="1m", AGENTTOWER_BACKOFF_BASE="30s")
    (hold,) = eventually(lambda: events_of(env, "managed_pane_restart_backoff"), what="a held restart")
    records = panes(at, "--all")
    assert [p["status"]["chainDepth"] for p in records] == [0, 1]  # the first restart did not wait
    held = records[1]
    assert hold["pane_id"] == held["status"]["id"]
    assert hold["payload"]["restarts_in_a_row"] == 1 and hold["payload"]["delay_ms"] == 30_000
    assert hold["payload"]["next_restart_at"] == held["status"]["nextRestartAt"]
    due = when(held["status"]["nextRestartAt"])
    assert due - when(held["status"]["endedAt"]) == timedelta(seconds=30)
    assert records[0]["status"]["nextRestartAt"] is None  # its restart was immediate

    def passes_later() -> bool:  # the controller's own observation, two resyncs on
        seen = panes(at)[0]["status"]["observedAt"]
        return seen is not None and when(seen) >= when(hold["timestamp"]) + timedelta(seconds=4.5)

    eventually(passes_later, what="two more passes")
    assert len(events_of(env, "managed_pane_restart_backoff")) == 1
    assert [p["status"]["id"] for p in panes(at, "--all")] == [p["status"]["id"] for p in records]
    layout_ = at.json("get", "layouts", "loop")
    reconciling = next(c for c in layout_["status"]["conditions"] if c["type"] == "Reconciling")  # type: ignore[index]
    assert reconciling["reason"] == "BackOff"


def test_kill_9_then_restart_converges_without_duplicates(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    controller.start()
    eventually(ready(at, "team"))
    controller.stop(signal.SIGKILL)
    write(env.desired_dir / "two.yaml", *sleepy("two")[:1])
    env.tmux("kill-pane", "-t", panes(at)[0]["status"]["tmuxPaneId"])
    controller.start()
    eventually(ready(at, "two"), what="two ready")
    eventually(lambda: states(at).get("team/m1") == "failed", what="vanished pane failed")
    live = [p for p in env.panes() if p["record"]]
    records = [p for p in panes(at, "--all") if p["status"]["state"] in ("ready", "creating", "degraded")]
    assert sorted(p["record"] for p in live) == sorted(
        p["status"]["id"] for p in records
    )  # no orphan, no dup
    events = (env.state_dir / "events.jsonl").read_text()
    assert "managed_layout_recovery_reattached" in events and "managed_layout_recovery_failed" in events
    ids = [json.loads(line)["event_id"] for line in events.splitlines()]
    assert len(ids) == len(set(ids))


def test_cli_hands_apply_and_delete_to_the_running_controller(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    controller.start()
    path = write(env.root / "team.yaml", *sleepy("team"))
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 0, result.stderr
    assert "request" in controller.text() and "op=apply" in controller.text()  # the controller did it
    assert set(states(at).values()) == {"ready"}
    waited = at.run("wait", "layout", "team", "--for=condition=Ready", "--timeout", "10s")
    assert waited.exit_code == 0 and "condition met" in waited.stdout
    result = at.run("apply", "-f", str(write(env.root / "bad.yaml", layout("x", "nope"))), "-o", "json")
    assert (
        result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "managed_template_not_found"
    )
    assert at.run("delete", "layout", "team").exit_code == 0
    assert env.panes() == []
    timeout = at.run("wait", "layout", "team", "--for=condition=Stalled", "--timeout", "300ms")
    assert timeout.exit_code == 1


def test_socket_and_state_dir_are_private(env: Env, controller: Controller) -> None:
    controller.start()
    assert (env.state_dir / "agenttowerd.sock").stat().st_mode & 0o777 == 0o600
    assert env.state_dir.stat().st_mode & 0o777 == 0o700


def test_symlinked_desired_dir_and_manifest_edits_are_seen(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    dotfiles = env.root / "dotfiles"
    write(dotfiles / "agents" / "team.yaml", *sleepy("team"))
    env.desired_dir.parent.mkdir(parents=True)
    env.desired_dir.symlink_to(dotfiles / "agents")  # stow-style: the desired dir is a link
    elsewhere = write(env.root / "elsewhere" / "solo.yaml", *sleepy("solo"))
    (dotfiles / "agents" / "solo.yaml").symlink_to(elsewhere)  # and a linked manifest inside it
    controller.args = ("--resync", "60s")  # only the watcher can see the edit in time
    controller.start()
    eventually(ready(at, "team", "solo"), what="both ready")
    write(elsewhere, *sleepy("solo", tmuxLayout="even-horizontal"))  # edit the link's target
    eventually(
        lambda: at.json("get", "layouts", "solo")["metadata"]["generation"] == 2,  # type: ignore[index]
        timeout=1.5,
        what="edit of a symlinked manifest's target seen without a resync",
    )


def test_symlinked_desired_dir_swapped_to_another_target_is_seen_at_once(env: Env, at: type[AtCli]) -> None:
    versions = env.root / "dotfiles"
    write(versions / "v1" / "a.yaml", *sleepy("a"))
    write(versions / "v2" / "b.yaml", *sleepy("b"))
    env.desired_dir.parent.mkdir(parents=True)
    env.desired_dir.symlink_to(versions / "v1")
    ctl = Controller(env, "--resync", "3600s")  # only the watcher can explain a pass
    ctl.start()
    try:
        eventually(ready(at, "a"), what="a ready")
        eventually(lambda: "actions=[]" in ctl.text(), what="a quiet pass: the next is the watcher's")
        subprocess.run(["ln", "-sfn", str(versions / "v2"), str(env.desired_dir)], check=True)
        eventually(lambda: ready(at, "b")() and {p["session"] for p in env.panes()} == {"b"}, what="b only")
        eventually(  # recorded once its panes and their processes are seen gone
            lambda: at.json("get", "layouts", "a", "-A")["status"]["state"] == "removed",  # type: ignore[index]
            what="a pruned",
        )
    finally:
        ctl.stop()


def test_killed_tmux_server_is_noticed_and_always_layouts_come_back(
    env: Env, at: type[AtCli], controller: Controller
) -> None:
    write(env.desired_dir / "keep.yaml", *sleepy("keep", restartPolicy="Always"))
    write(env.desired_dir / "lost.yaml", *sleepy("lost")[:1])
    controller.start()
    eventually(ready(at, "keep", "lost"))
    old = {p["status"]["id"] for p in panes(at)}
    env.tmux("kill-server")
    eventually(
        lambda: all(states(at).get(f"lost/{x}") == "failed" for x in ("m1", "s1", "s2")),
        what="Never panes failed",
    )
    eventually(ready(at, "keep"), what="Always panes back")
    back = [p for p in panes(at) if p["metadata"]["layout"] == "keep"]
    assert all(p["status"]["predecessorId"] in old for p in back)
    assert {p["session"] for p in env.panes()} == {"keep"}
    lost = at.json("get", "layouts", "lost")
    assert lost["status"]["state"] == "failed"  # type: ignore[index]
    text = at.run("describe", "pane", "lost/m1").stdout
    assert "recovery_reattach" in text


def test_fr022_get_with_a_controller_shows_its_last_observation_and_when(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = Controller(env, "--resync", "1h")
    write(env.desired_dir / "team.yaml", *sleepy("team"))
    cli_log = env.root / "cli-tmux-calls.log"
    try:
        ctl.start()
        eventually(ready(at, "team"))
        # from here on the CLI's own tmux calls go to a log of their own: the controller's
        # (its passes, its event listener) are not this command's
        shim = env.root / "cli-tmux"
        shim.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{cli_log}"\nexec "{shutil.which("tmux")}" "$@"\n'
        )
        shim.chmod(0o755)
        monkeypatch.setenv("AGENTTOWER_TMUX", str(shim))  # the controller keeps its own
        s1 = next(p for p in panes(at) if p["metadata"]["name"] == "team/s1")
        env.tmux("kill-pane", "-t", s1["status"]["tmuxPaneId"])
        # the controller hears of it (a tmux event) and its pass records it
        eventually(lambda: states(at).get("team/s1") == "failed", what="the controller's view of s1")
        cli_log.unlink(missing_ok=True)
        items = panes(at)
        table = at.run("get", "panes").stdout
        described = at.run("describe", "layout", "team").stdout
        assert not cli_log.exists()  # the controller's view: this command lists nothing
    finally:
        if ctl.proc is not None:
            ctl.stop(signal.SIGKILL)
    assert {p["status"]["observation"] for p in items} == {"controller"}
    assert len({p["status"]["observedAt"] for p in items}) == 1 and items[0]["status"]["observedAt"]
    row = next(line for line in table.splitlines() if line.startswith("team/s1"))
    assert "controller" in row and row.endswith(" ago")
    # its passes go on (a mark is followed at once by another pass): describe may show a later one
    seen = next(line for line in described.splitlines() if line.startswith("observed:"))
    assert seen.startswith("observed:     by the controller's last pass, at ")
    assert seen.rsplit(" ", 1)[1] >= items[0]["status"]["observedAt"]
