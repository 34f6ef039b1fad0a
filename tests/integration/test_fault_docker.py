"""Fault suite, faults of the docker engine (a real engine and bench containers; see
tests/integration/test_containers.py for the fixtures).

- A daemon that is down: AGENTTOWER_DOCKER names a wrapper that answers every call as
  the real CLI does then ("Cannot connect to the Docker daemon at
  unix:///var/run/docker.sock. Is the docker daemon running?", exit 1). Pass after pass
  (apply, a restart by policy, diff, get, delete, a controller's passes) host layouts
  carry on and the container layout's pane records stay exactly as they were.
- A container stopped and started again under a running controller: its
  `restartPolicy: Always` panes come back, one per slot, and every invariant holds.

The other fault cases of this issue (storage faults, a hung tmux server, SIGTERM,
delete atomicity, a symlink swap, YAML edges) have tests of their own; see
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from tests import fault_report
from tests.conftest import AtCli, Env, eventually
from tests.integration.test_containers import Bench, DockerLog, benches, boxed, docker_engine, docker_log
from tests.integration.test_controller import Controller
from tests.invariants import Lister, records, tmux_lister, violations
from tests.manifests import SLEEP, layout, profile, write

pytestmark = [pytest.mark.tmux, pytest.mark.usefixtures("fast")]
__all__ = ["benches", "docker_engine", "docker_log"]  # fixtures, used by name

DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
HOST = {"master:m1": "sleepy", "slave:s1": "sleepy", "slave:s2": "sleepy"}


def container_rows(env: Env, bench: Bench) -> list[tuple[Any, ...]]:
    """The container layout's pane rows and events, exactly as stored."""
    db = env.state_dir / "agenttower.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        panes = conn.execute(
            "SELECT p.* FROM panes p JOIN layouts l ON l.id=p.layout_id WHERE l.target_key=? ORDER BY p.id",
            (f"container:{bench.name}",),
        ).fetchall()
        ids = [p[0] for p in panes]
        events = conn.execute(
            "SELECT event_id FROM outbox WHERE json_extract(body, '$.pane_id')"
            f" IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
    return [*panes, *events]


def listers(env: Env, bench: Bench) -> dict[str, Lister]:
    return {"host": tmux_lister(env.tmux), f"container:{bench.name}": tmux_lister(bench.tmux)}


def test_fr022_a_docker_daemon_that_is_down_leaves_container_records_and_host_layouts_carry_on(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = benches()
    box = write(env.root / "box.yaml", boxed("box", bench), profile("sleepy", SLEEP))
    assert at.run("apply", "-f", str(box), "--wait").exit_code == 0
    before = container_rows(env, bench)
    down = env.root / "docker-down"
    down.write_text(f"#!/bin/sh\nprintf '%s\\n' '{DOWN}' >&2\nexit 1\n")
    down.chmod(0o755)
    monkeypatch.setenv("AGENTTOWER_DOCKER", str(down))
    local = write(env.root / "local.yaml", layout("local", launch=HOST, restartPolicy="Always"))
    problems: list[str] = []

    def step(what: str, ok: Callable[[int, str], bool], *args: str) -> None:
        result = at.run(*args)
        text = result.output + result.stderr
        wrong = []
        if "Traceback" in text or not ok(result.exit_code, text):
            wrong.append(f"{what}: exit {result.exit_code}: {text[-600:]}")
        if container_rows(env, bench) != before:
            wrong.append(f"{what}: the container's records changed")
        fault_report.tried("faults", not wrong)
        problems.extend(wrong)

    def host_ready() -> set[str]:
        return {r.label for r in records(env.state_dir) if r.layout == "local" and r.state == "ready"}

    step("apply a host layout", lambda code, _: code == 0, "apply", "-f", str(local), "--wait")
    assert host_ready() == {"m1", "s1", "s2"}, problems
    s1 = next(r for r in records(env.state_dir) if r.layout == "local" and r.label == "s1")
    assert s1.tmux_pane_id
    env.tmux("kill-pane", "-t", s1.tmux_pane_id)
    step("a host restart by policy", lambda code, _: code == 0, "apply", "-f", str(local))
    eventually(lambda: (at.run("apply", "-f", str(local)), host_ready() == {"m1", "s1", "s2"})[1])
    step("diff", lambda code, text: code == 2 and "Cannot connect to the Docker daemon" in text, "diff")
    step("get panes", lambda code, _: code == 0, "get", "panes")
    step("describe the container layout", lambda code, _: code == 0, "describe", "layout", "box")
    step("delete the container layout", lambda code, _: code == 1, "delete", "layout", "box")

    ctl = Controller(env).start()
    try:
        eventually(lambda: ctl.text().count("tmux_calls=") >= 2, what="two controller passes")
    finally:
        ctl.stop()
    fault_report.tried("faults", container_rows(env, bench) == before)
    if container_rows(env, bench) != before:
        problems.append("controller passes: the container's records changed")
    step("delete the host layout", lambda code, _: code == 0, "delete", "layout", "local")
    assert not problems, "\n".join(problems)

    monkeypatch.delenv("AGENTTOWER_DOCKER")  # the daemon is back
    assert at.run("diff").exit_code == 0  # nothing to do: the container's panes never went away
    assert bench.sessions() == {"box": 3}
    assert violations(env.state_dir, listers(env, bench)) == []


def test_fr022_a_container_restarted_under_a_running_controller_gets_its_always_panes_back_once(
    env: Env, at: type[AtCli], benches: Callable[..., Bench], docker_log: DockerLog
) -> None:
    bench = benches()
    write(env.desired_dir / "box.yaml", boxed("box", bench, restartPolicy="Always"), profile("sleepy", SLEEP))
    write(env.desired_dir / "local.yaml", layout("local", launch=HOST))

    def state(layout_name: str) -> dict[str, tuple[str, str]]:
        return {r.label: (r.state, r.id) for r in records(env.state_dir) if r.layout == layout_name}

    def ready(layout_name: str, older: set[str] = set()) -> dict[str, str] | None:  # noqa: B006
        live = {k: v for k, (s, v) in state(layout_name).items() if s == "ready" and v not in older}
        return live if set(live) == {"m1", "s1", "s2"} else None

    ctl = Controller(env).start()
    try:
        first = eventually(lambda: ready("box"), timeout=60, what="box ready")
        local = eventually(lambda: ready("local"), what="local ready")
        seen = set(first.values())
        for cycle in range(2):
            bench.stop()
            eventually(
                lambda old=frozenset(seen): all(  # type: ignore[misc]
                    s in ("failed", "removed") for s, i in state("box").values() if i in old
                ),
                timeout=60,
                what="the stopped container's panes failed",
            )
            bench.start()
            back = eventually(
                lambda old=frozenset(seen): ready("box", set(old)),  # type: ignore[misc]
                timeout=60,
                what=f"box back (cycle {cycle})",
            )
            seen |= set(back.values())
            problems = violations(env.state_dir, listers(env, bench))
            if bench.sessions() != {"box": 3}:
                problems.append(f"container sessions {bench.sessions()} after the restart")
            if ready("local") != local:
                problems.append("the host layout was touched")
            fault_report.tried("faults", not problems)
            assert not problems, "\n".join(problems) + ctl.text()[-2000:]
    finally:
        ctl.stop()
