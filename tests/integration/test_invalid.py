"""Bad input: a closed-set code, file:line, and nothing touched (no server, no pane, no file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import AtCli, Env
from tests.manifests import SLEEP, layout, profile, write

pytestmark = pytest.mark.tmux

HEAD = "apiVersion: agenttower.dev/v1alpha1\nkind: Layout\nmetadata:\n  name: team\nspec:\n"
PROFILE = "apiVersion: agenttower.dev/v1alpha1\nkind: LaunchProfile\nmetadata:\n  name: p\nspec:\n"

CASES = {
    # name: (file text, code, line, field)
    "string_command": (
        PROFILE + '  command: "claude --model opus"\n',
        "validation_failed",
        6,
        "spec.command",
    ),
    "bad_name": (
        HEAD.replace("name: team", "name: 'bad name!'") + "  template: 1m+2s\n",
        "validation_failed",
        4,
        "metadata.name",
    ),
    "numeric_name": (
        HEAD.replace("name: team", "name: 012") + "  template: 1m+2s\n",
        "validation_failed",
        4,
        "metadata.name",
    ),
    "unknown_template": (HEAD + "  template: 9m+9s\n", "managed_template_not_found", 6, None),
    "unknown_profile": (
        HEAD + "  template: 1m+2s\n  launch:\n    'master:m1': nope\n",
        "managed_launch_command_not_found",
        8,
        None,
    ),
    "yaml_syntax": (HEAD + "  template: [1m+2s\n", "validation_failed", 7, "yaml"),
    "duplicate_key": (
        HEAD + "  template: 1m+2s\n  template: 2m+2s\n",
        "validation_failed",
        7,
        "spec.template",
    ),
    "duplicate_document": (
        HEAD + "  template: 1m+2s\n---\n" + HEAD + "  template: 2m+2s\n",
        "validation_failed",
        11,
        "metadata.name",
    ),
    "unknown_field": (
        HEAD + "  template: 1m+2s\n  tmuxLayuot: tiled\n",
        "validation_failed",
        7,
        "spec.tmuxLayuot",
    ),
    "session_with_dot": (
        HEAD + "  template: 1m+2s\n  session: a.b\n",
        "validation_failed",
        7,
        "spec.session",
    ),
    "env_not_string": (PROFILE + "  command: [x]\n  env: {N: 1}\n", "validation_failed", 7, "spec.env.N"),
    "label_conflict": (
        HEAD + "  panes:\n    - {role: a, capability: b, labelPattern: x}\n"
        "    - {role: a, capability: b, labelPattern: x}\n",
        "managed_pane_label_conflict",
        8,
        None,
    ),
}
DETAIL_KEYS = {
    "validation_failed": {"field", "reason"},
    "managed_template_not_found": {"template_name", "known_templates"},
    "managed_launch_command_not_found": {"profile_name", "known_profiles"},
    "managed_pane_label_conflict": {"container_id", "label"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fr016_invalid_manifest_exits_1_with_code_and_location(env: Env, at: type[AtCli], case: str) -> None:
    text, code, line, field = CASES[case]
    path = env.root / f"{case}.yaml"
    path.write_text(text)
    result = at.run("apply", "-f", str(path), "--wait")
    assert result.exit_code == 1, result.output + result.stderr
    assert result.stderr.startswith(f"error: {code}: {path}:{line}: "), result.stderr
    as_json = at.run("apply", "-f", str(path), "-o", "json")
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == code
    assert DETAIL_KEYS[code] <= set(error["details"])
    assert (error["details"]["file"], error["details"]["line"]) == (str(path), line)
    if field:
        assert error["details"]["field"] == field
    assert not env.server_running()
    assert env.tmux_calls() == []
    assert not env.desired_dir.exists() or not any(env.desired_dir.iterdir())


def test_invalid_edit_of_a_running_layout_touches_nothing(env: Env, at: type[AtCli]) -> None:
    path = write(env.root / "team.yaml", layout("team", launch={"master:m1": "p"}), profile("p", SLEEP))
    assert at.run("apply", "-f", str(path)).exit_code == 0
    before = env.panes()
    stored = (env.desired_dir / "team.yaml").read_text()
    write(path, layout("team", launch={"master:m1": "p"}), profile("p", "sleep 600"))
    env.reset_calls()
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 1 and "validation_failed" in result.stderr
    assert env.tmux_calls() == []
    assert env.panes() == before
    assert (env.desired_dir / "team.yaml").read_text() == stored


def test_alias_bomb_is_refused_quickly(env: Env, at: type[AtCli]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path: Path = env.root / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 1 and "alias bomb" in result.stderr


def test_usage_error_exits_2(at: type[AtCli], env: Env) -> None:
    assert at.run("apply").exit_code == 2
    assert at.run("get").exit_code == 2


EDGE_CASES = {
    # name: (file bytes, line, field or None, text that must not be on stderr)
    "recursive_alias": (HEAD.encode() + b"  template: 1m+2s\n  target: &t {socket: *t}\n", 7, None, None),
    "deep_flow_nesting": (
        HEAD.encode() + b"  template: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        6,
        "yaml",
        None,
    ),
    "deep_map_nesting": (
        HEAD.encode() + b"  target: " + b"{a: " * 2500 + b"1" + b"}" * 2500 + b"\n",
        6,
        None,
        None,
    ),
    "non_utf8": (HEAD.encode() + b"  template: 1m+2s\n  session: caf\xe9\n", 7, "file", None),
    "huge_name": (
        HEAD.replace("name: team", "name: " + "n" * 1_000_000).encode(),
        4,
        "metadata.name",
        "n" * 61,
    ),
    "numeric_secret": (
        PROFILE.encode() + b"  command: [x]\n  env: {API_TOKEN: 918273645}\n",
        7,
        None,
        "918273645",
    ),
    "dot_layout": (
        HEAD.replace("name: team", "name: .").encode() + b"  template: 1m+2s\n",
        4,
        "metadata.name",
        None,
    ),
    "dotdot_layout": (
        HEAD.replace("name: team", "name: '..'").encode() + b"  session: s\n  template: 1m+2s\n",
        4,
        "metadata.name",
        None,
    ),
    "dotdot_label": (
        HEAD.encode() + b"  panes: [{role: a, capability: b, labelPattern: '..'}]\n",
        6,
        "label",
        None,
    ),
    "dotdot_socket": (
        HEAD.encode() + b"  template: 1m+2s\n  target: {socket: ..}\n",
        7,
        "spec.target.socket",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_fr016_edge_case_manifest_exits_1_located_and_touches_nothing(
    env: Env, at: type[AtCli], case: str
) -> None:
    data, line, field, hidden = EDGE_CASES[case]
    kept = write(env.desired_dir / "kept.yaml", layout("kept"))
    before = {p: p.read_bytes() for p in env.desired_dir.rglob("*")}
    path = env.root / f"{case}.yaml"
    path.write_bytes(data)
    result = at.run("apply", "-f", str(path))
    assert result.exit_code == 1, result.output + result.stderr
    assert result.stderr.startswith(f"error: validation_failed: {path}:{line}: "), result.stderr[:300]
    if field:
        assert result.stderr.startswith(f"error: validation_failed: {path}:{line}: {field}: ")
    assert len(result.stderr) < 600 and "Traceback" not in result.stderr
    if hidden:
        assert hidden not in result.stderr
    assert env.tmux_calls() == [] and not env.server_running()
    assert {p: p.read_bytes() for p in env.desired_dir.rglob("*")} == before and kept.exists()
