"""`get`, `describe` and their error codes, against records a real apply produced."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux


@pytest.fixture
def applied(env: Env, at: type[AtCli]) -> Env:
    path = write(
        env.root / "team.yaml",
        layout("team", launch={"master:m1": "secretive", "slave:s1": "s", "slave:s2": "s"}),
        profile("secretive", SLEEP, env={"API_TOKEN": "hunter2", "MODE": "plain"}),
        profile("s", SLEEP),
    )
    assert at.run("apply", "-f", str(path), "--wait").exit_code == 0
    return env


def test_get_formats(applied: Env, at: type[AtCli]) -> None:
    table = at.run("get", "panes")
    assert table.exit_code == 0 and table.stdout.split()[:6] == [
        "NAME",
        "ROLE",
        "STATE",
        "STAGE",
        "TMUX",
        "AGE",
    ]
    assert at.run("get", "panes", "-o", "wide").stdout.split()[6:11] == [
        "ID",
        "PREDECESSOR",
        "DEPTH",
        "AGENT",
        "REASON",
    ]
    assert at.run("get", "layouts", "-o", "name").stdout.split() == ["layout/team"]
    as_yaml = yaml.safe_load(at.run("get", "layouts", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "List" and as_yaml["items"][0]["status"]["readyPanes"] == 3
    one = at.json("get", "layouts", "team")
    assert isinstance(one, dict) and one["kind"] == "Layout"
    assert one["status"]["state"] == "ready" and one["status"]["totalPanes"] == 3
    pane = at.json("get", "panes", "team/m1")
    assert isinstance(pane, dict)
    assert set(pane["status"]) >= {
        "state",
        "failedStage",
        "id",
        "tmuxPaneId",
        "predecessorId",
        "chainDepth",
        "agentId",
    }
    assert pane["metadata"] | {} == pane["metadata"] and pane["metadata"]["layout"] == "team"
    agents = at.json("get", "agents")
    assert isinstance(agents, dict)
    assert {a["spec"]["origin"] for a in agents["items"]} == {"managed"} and len(agents["items"]) == 3


def test_fr021_secrets_never_leave_redacted(applied: Env, at: type[AtCli]) -> None:
    outputs = [at.run("get", "panes", "-o", fmt).stdout for fmt in ("json", "yaml")]
    outputs.append(at.run("describe", "pane", "team/m1").stdout)
    outputs.append(at.run("describe", "layout", "team", "-o", "json").stdout)
    outputs.append((applied.state_dir / "events.jsonl").read_text())
    for text in outputs:
        assert "hunter2" not in text
    # the last good spec (kept to hold a layout whose manifest breaks) is owner-only, like the manifest
    for db in applied.state_dir.glob("agenttower.sqlite3*"):
        assert db.stat().st_mode & 0o077 == 0
    assert "plain" in outputs[0] and "***" in outputs[0]


def test_describe_shows_states_and_events(applied: Env, at: type[AtCli]) -> None:
    text = at.run("describe", "layout", "team").stdout
    assert "state:" in text and "team/m1" in text and "managed_layout_created" in text
    pane = at.run("describe", "pane", "team/s1").stdout
    assert "managed_pane_state_changed" in pane and "slave" in pane


@pytest.mark.parametrize(
    "args, code, keys",
    [
        (("get", "layouts", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("get", "panes", "team/ghost"), "managed_pane_not_found", {"pane_id"}),
        (("describe", "layout", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("delete", "layout", "ghost"), "managed_layout_not_found", {"layout_id"}),
        (("get", "gadgets"), "validation_failed", {"field", "reason"}),
    ],
)
def test_not_found_codes_as_text_and_json(
    applied: Env, at: type[AtCli], args: tuple[str, ...], code: str, keys: set[str]
) -> None:
    text = at.run(*args)
    assert text.exit_code == 1 and text.stderr.startswith(f"error: {code}: ")
    as_json = at.run(*args, "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 1 and error["code"] == code and keys <= set(error["details"])


def test_a_tmux_variable_in_the_environment_is_ignored(
    env: Env, at: type[AtCli], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", "/nonexistent/socket,1,0")
    path = write(
        env.root / "t.yaml",
        layout("solo", None, panes=[{"role": "m", "capability": "c", "labelPattern": "m1"}]),
    )
    assert at.run("apply", "-f", str(path)).exit_code == 0
    monkeypatch.delenv("TMUX")
    assert [p["session"] for p in env.panes()] == ["solo"]


def test_fr007_a_deleted_layout_is_not_ready_and_wait_on_it_fails(applied: Env, at: type[AtCli]) -> None:
    assert at.run("wait", "layout", "team", "--for=condition=Ready", "--timeout", "5s").exit_code == 0
    assert at.run("delete", "layout", "team").exit_code == 0
    item = at.json("get", "layouts", "team")
    assert isinstance(item, dict) and item["status"]["state"] == "removed"
    ready = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
    removed_at = item["status"]["removedAt"]
    assert (ready["status"], ready["reason"]) == ("False", "LayoutRemoved")
    assert ready["message"] == f"layout team was deleted at {removed_at}"
    for wanted in ("Ready", "Ready=False"):  # a deleted layout meets no condition: it is gone
        waited = at.run("wait", "layout", "team", f"--for=condition={wanted}", "--timeout", "30s")
        assert waited.exit_code == 1
        assert waited.stderr == f"error: managed_layout_not_found: layout team was deleted at {removed_at}\n"
    as_json = at.run("wait", "layout", "team", "--for=condition=Ready", "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == 1 and error["details"] == {"layout_id": item["metadata"]["uid"]}
