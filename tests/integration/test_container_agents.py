"""Inside a real container: the pane environment is the container's own base plus the
profile's, and deleting a layout stops agents that ignore SIGHUP."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env, eventually
from tests.integration.test_containers import (
    DOCKER,
    Bench,
    apply_ok,
    benches,
    boxed,
    docker_engine,
    inline,
    panes_json,
)
from tests.integration.test_real_agents import agent_bin
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux
__all__ = ["agent_bin", "benches", "docker_engine"]  # fixtures, used by name

# `trap '' HUP` survives exec: the agent ignores SIGHUP the way Gemini CLI does.
STUBBORN = ["sh", "-c", 'env > "/tmp/$AGENTTOWER_LABEL.env"; trap "" HUP; exec sleep 100000']


def marked(bench: Bench) -> set[str]:
    """Pane record ids carried by live processes in the container (its own /proc)."""
    script = "grep -h -o -s -z -a 'AGENTTOWER_PANE_ID=[^[:cntrl:]]*' /proc/[0-9]*/environ | tr '\\0' '\\n'"
    out = bench.docker("exec", bench.name, "sh", "-c", script, check=False).stdout
    return {line.split("=", 1)[1] for line in out.splitlines() if "=" in line}


def test_fr002_container_pane_env_is_the_containers_base_plus_the_profile(
    env: Env,
    at: type[AtCli],
    benches: Callable[..., Bench],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/host/venv")
    bench = benches()
    image_path = bench.docker("exec", bench.name, "printenv", "PATH").stdout.strip()
    docs = [boxed("box", bench), profile("sleepy", STUBBORN, env={"AGENT_MODE": "ci"})]
    apply_ok(at, write(env.root / "box.yaml", *docs), "--wait")
    record = panes_json(at)["box/s1"]["status"]["id"]

    def dumped() -> dict[str, str] | None:
        out = bench.docker("exec", bench.name, "cat", "/tmp/s1.env", check=False)
        return dict(line.split("=", 1) for line in out.stdout.splitlines()) if out.returncode == 0 else None

    seen = eventually(dumped, what="s1's environment dump")
    assert seen["PATH"] == image_path
    assert seen["LANG"] == "C.UTF-8" and seen["AGENT_MODE"] == "ci"
    assert seen["AGENTTOWER_PANE"] == "box/s1" and seen["AGENTTOWER_PANE_ID"] == record
    assert "VIRTUAL_ENV" not in seen


def test_fr009_container_delete_stops_sighup_ignoring_agents(
    env: Env,
    at: type[AtCli],
    benches: Callable[..., Bench],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTTOWER_KILL_GRACE", "300ms")
    bench = benches()
    path = write(env.root / "box.yaml", boxed("box", bench), profile("sleepy", STUBBORN))
    apply_ok(at, path, "--wait")
    records = {p["status"]["id"] for p in panes_json(at).values()}
    eventually(lambda: marked(bench) == records, what="three agents running in the container")

    assert at.run("remove", "pane", "box/s1").exit_code == 0
    s1 = panes_json(at)["box/s1"]["status"]["id"]
    assert marked(bench) == records - {s1}
    assert at.run("delete", "layout", "box").exit_code == 0
    assert marked(bench) == set()


def test_fr013_an_agent_that_dies_in_a_container_is_replaced_on_tmux_s_event(
    env: Env,
    at: type[AtCli],
    benches: Callable[..., Bench],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listener runs through `docker exec -i` as tmux itself does: with a resync of an
    hour, only the container's own tmux hook can explain the replacement."""
    from tests.integration.test_controller import Controller
    from tests.integration.test_events import hooked_in, quiet_pass

    monkeypatch.setenv("AGENTTOWER_BACKOFF_BASE", "0s")
    bench = benches()
    write(env.desired_dir / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    ctl = Controller(env, "--resync", "3600s").start()
    try:
        eventually(
            lambda: (
                len(panes_json(at)) == 3
                and all(p["status"]["state"] == "ready" for p in panes_json(at).values())
            ),
            what="box ready",
        )
        eventually(lambda: quiet_pass(ctl) and hooked_in(env, bench.tmux), what="hooks and a quiet pass")
        old = panes_json(at)["box/s1"]["status"]
        pid = bench.tmux("display-message", "-p", "-t", old["tmuxPaneId"], "#{pane_pid}").stdout.strip()
        bench.docker("exec", bench.name, "kill", "-9", pid)

        def replaced() -> bool:
            now = panes_json(at)["box/s1"]["status"]
            return now["id"] != old["id"] and now["state"] == "ready"

        eventually(replaced, what="s1 replaced in the container")
    finally:
        ctl.stop()


# A stand-in for Gemini CLI, in sh (the bench image has no python): it runs the
# BeforeAgent hook of the settings file agenttower's wrapper wrote for it (the command
# cut out of the JSON with sed, its escapes undone), then waits.
_FAKE_GEMINI = (
    'f="$GEMINI_CLI_SYSTEM_DEFAULTS_PATH"; [ -r "$f" ] || { echo "no settings file"; exec sleep 100000; }; '
    'cmd=$(sed -e \'s/.*"BeforeAgent":\\[{"hooks":\\[{"type":"command","command":"//\' '
    "-e 's/\"}\\]}\\].*//' -e 's/\\\\\"/\"/g' -e 's/\\\\\\\\/\\\\/g' \"$f\"); "
    'sh -c "$cmd"; echo "prompt submitted"; exec sleep 100000'
)


def test_activity_through_docker_exec_from_a_hook_and_from_the_screen(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    """In a container, with nothing of agenttower's there but the tmux commands its hooks
    run: the gemini kind's wrapper writes the hooks' settings under /run (the pane runs
    as root), the hook reports `working` and wakes the controller; a sign-in screen,
    read through `docker exec`, is `waiting`."""
    from tests.integration.test_controller import Controller

    bench = benches()
    rule = {"pattern": "Sign in to continue", "activity": "waiting", "reason": "login screen: sign in"}
    login = ["sh", "-c", "printf 'Sign in to continue\\n'; exec sleep 100000"]
    launch = {"master:m1": "fake-gemini", "slave:s1": "login", "slave:s2": "sleepy"}
    docs = [
        layout("box", target=bench.target(), launch=launch),
        profile("fake-gemini", ["sh", "-c", _FAKE_GEMINI, "gemini"], agent="gemini"),
        profile("login", login, screen=[rule]),
        profile("sleepy", SLEEP),
    ]
    write(env.desired_dir / "box.yaml", *docs)
    ctl = Controller(env).start(AGENTTOWER_SCREEN_PERIOD="500ms")
    try:

        def reported() -> dict[str, dict[str, object]] | None:
            shown = {k: v["status"] for k, v in panes_json(at).items()}
            wanted = {"box/m1": "working", "box/s1": "waiting"}
            return shown if all(shown.get(k, {}).get("activity") == v for k, v in wanted.items()) else None

        shown = eventually(reported, timeout=30, what="the hook's working and the screen's waiting")
        assert shown["box/m1"]["activitySource"] == "hook"
        assert (shown["box/s1"]["activitySource"], shown["box/s1"]["activityReason"]) == (
            "screen",
            "login screen: sign in",
        )
        assert shown["box/s2"]["activity"] == "unknown"  # a plain program: no hook, not watched
    finally:
        ctl.stop()


# The bench image has no python: the agent is a shell that turns bracketed paste on,
# keeps every byte it gets in /tmp/got and draws each one (`cat -v`: a CR as ^M).
RECORDER = ["sh", "-c", "stty raw -echo; printf '\\033[?2004h'; tee /tmp/got | cat -v"]


def test_send_through_docker_exec_arrives_byte_for_byte_as_one_bracketed_paste(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    bench = benches()
    docs = [inline("box", bench, 1), profile("sleepy", RECORDER)]
    apply_ok(at, write(env.root / "box.yaml", *docs), "--wait")
    text = "quotes ' \" and $(id) `id`\nsecond line ✓"
    sent = at.json("send", "box/s1", text)
    assert sent["delivered"] is True, sent  # type: ignore[index]
    expected = b"\x1b[200~" + text.replace("\n", "\r").encode() + b"\x1b[201~\r"

    def got() -> bytes:
        assert DOCKER is not None
        argv = [DOCKER, "exec", bench.name, "cat", "/tmp/got"]
        return subprocess.run(argv, capture_output=True, check=False).stdout

    eventually(lambda: got() == expected, what="the pasted bytes in the container")


def test_a_missing_agent_binary_in_a_container_is_held_with_its_last_output(
    env: Env, at: type[AtCli], benches: Callable[..., Bench]
) -> None:
    """Read through `docker exec` like every other call: the dead pane's screen is kept."""
    bench = benches()
    docs = [inline("box", bench, 1, restartPolicy="Always"), profile("sleepy", ["claude-not-installed"])]
    path = write(env.root / "box.yaml", *docs)
    for _ in range(4):  # create (exits at the probe), restart once, hold, nothing more
        apply_ok(at, path)
    records = at.json("get", "panes", "--all")["items"]  # type: ignore[index]
    assert len(records) == 2
    held = records[-1]["status"]
    assert (held["state"], held["exitCode"]) == ("failed", 127)
    outputs = " ".join(r["status"]["lastOutput"] or "" for r in records)  # one may be blank: restarts.py
    assert "claude-not-installed" in outputs and "No such file" in outputs
    assert "claude-not-installed" in held["crashLoop"]


def _codex_binary(agent_bin: Path) -> Path:
    """Codex's npm package ships one static (musl) binary per platform: it runs in an
    image with no node, no libc of its own kind and no locale."""
    package = (agent_bin / "codex").resolve().parent.parent
    found = sorted(package.glob("node_modules/@openai/codex-linux-*/vendor/*-linux-musl/bin/codex"))
    if not found:
        pytest.fail(f"no static codex binary under {package}")
    return found[0]


def test_real_codex_in_a_container_is_waiting_on_its_login_screen_and_not_restarted(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], agent_bin: Path
) -> None:
    """The built-in `codex` profile in a container target: the real CLI (bind-mounted,
    nothing installed in the image), logged out and offline, draws "Sign in with
    ChatGPT"; read through `docker exec`, that is activity `waiting` with the reason
    naming it, and restartPolicy Always does not restart an agent that needs the user."""
    from tests.integration.test_controller import Controller

    bench = benches(read_only={_codex_binary(agent_bin): "/usr/local/bin/codex"})
    docs = [
        layout(
            "box",
            None,
            target=bench.target(),
            restartPolicy="Always",
            panes=[{"role": "slave", "capability": "c", "labelPattern": "s1", "launch": "codex"}],
        )
    ]
    write(env.desired_dir / "box.yaml", *docs)
    ctl = Controller(env).start(AGENTTOWER_SCREEN_PERIOD="1s")
    try:

        def waiting() -> dict[str, object] | None:
            status = panes_json(at).get("box/s1", {}).get("status", {})
            return status if status.get("activity") == "waiting" else None

        status = eventually(waiting, timeout=90, what="Codex waiting on its login screen")
        assert (status["activityReason"], status["activitySource"]) == (
            "login screen: Sign in with ChatGPT",
            "screen",
        )
        assert status["target"] == f"container:{bench.name}"
        for _ in range(2):  # two more controller passes (a screen period each): not restarted
            seen = str(panes_json(at)["box/s1"]["status"]["observedAt"])
            eventually(lambda s=seen: str(panes_json(at)["box/s1"]["status"]["observedAt"]) > s, timeout=30)
        history = at.json("get", "panes", "-A")["items"]  # type: ignore[index]
        assert len(history) == 1 and history[0]["status"]["chainDepth"] == 0
        comms = bench.docker("exec", bench.name, "sh", "-c", "cat /proc/[0-9]*/comm", check=False).stdout
        assert "codex" in comms.split()  # the real binary runs in the container
        assert at.run("delete", "layout", "box").exit_code == 0
    finally:
        ctl.stop()
