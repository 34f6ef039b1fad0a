"""The pure halves of item 5 and 6 of issue 14: resolving `workspace.worktree` (branch
from `{layout}`/`{label}`, path beside the repo, in the spec hash through the working
dir) and mapping tmuxp workspaces onto manifests (or naming the field it cannot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenttower.model.desired import resolve
from agenttower.model.errors import AgentTowerError
from agenttower.model.identifiers import BRANCH_RE
from agenttower.model.manifests import parse_text
from agenttower.model.resolved import Worktree
from agenttower.model.tmuxp import convert, name_of
from agenttower.model.yamlload import load_documents
from tests.manifests import layout, profile


def _resolve(*items: dict[str, object]) -> dict[str, object]:
    desired = resolve(parse_text("\n---\n".join(json.dumps(i) for i in items), "m.yaml"))
    return dict(desired.layouts)


PANES = [
    {"role": "w", "capability": "c", "labelPattern": "w{ordinal}", "launch": "p"},
    {"role": "w", "capability": "c", "labelPattern": "w{ordinal}", "launch": "p"},
]


def test_layout_workspace_gives_each_pane_its_branch_and_directory() -> None:
    spec = {"panes": PANES, "workspace": {"worktree": {"repo": "/src/app", "branch": "ai/{layout}-{label}"}}}
    (team,) = _resolve(layout("team", None, **spec), profile("p", ["x"], workingDir="/elsewhere")).values()
    trees = [p.launch.worktree for p in team.panes]  # type: ignore[attr-defined]
    assert trees == [
        Worktree("/src/app", "ai/team-w1", "/src/app.worktrees/ai/team-w1"),
        Worktree("/src/app", "ai/team-w2", "/src/app.worktrees/ai/team-w2"),
    ]
    # the worktree is the working directory (the profile's is replaced), so it is in the hash
    assert [p.launch.working_dir for p in team.panes] == [t.path for t in trees]  # type: ignore[attr-defined,union-attr]
    hashes = {p.spec_hash for p in team.panes}  # type: ignore[attr-defined]
    assert len(hashes) == 2


def test_a_pane_workspace_wins_over_the_layouts_and_the_default_branch_pattern() -> None:
    own = {**PANES[0], "workspace": {"worktree": {"repo": "/other"}}}
    spec = {"panes": [own, PANES[1]], "workspace": {"worktree": {"repo": "/src/app"}}}
    (team,) = _resolve(layout("team", None, **spec), profile("p", ["x"])).values()
    assert [p.launch.worktree for p in team.panes] == [  # type: ignore[attr-defined]
        Worktree("/other", "agenttower/team/w1", "/other.worktrees/agenttower/team/w1"),
        Worktree("/src/app", "agenttower/team/w2", "/src/app.worktrees/agenttower/team/w2"),
    ]


def test_no_workspace_leaves_launch_as_it_was() -> None:
    (team,) = _resolve(layout("team", None, panes=PANES), profile("p", ["x"])).values()
    assert {p.launch.worktree for p in team.panes} == {None}  # type: ignore[attr-defined]
    assert "worktree" not in team.panes[0].launch.to_json()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("branch", "field"),
    [
        ("a..{label}", "workspace.worktree.branch"),  # checked after substitution
        ("-x/{label}", "workspace.worktree.branch"),
        ("x/{label}.lock", "workspace.worktree.branch"),
        ("sp ace", "spec.workspace.worktree.branch"),  # the pattern's own characters
    ],
)
def test_bad_branch_patterns_are_validation_failed(branch: str, field: str) -> None:
    spec = {"panes": PANES, "workspace": {"worktree": {"repo": "/r", "branch": branch}}}
    with pytest.raises(AgentTowerError) as info:
        _resolve(layout("team", None, **spec), profile("p", ["x"]))
    assert info.value.code == "validation_failed"
    assert info.value.details["field"] == field


def test_a_relative_repo_is_refused() -> None:
    spec = {"panes": PANES, "workspace": {"worktree": {"repo": "src/app"}}}
    with pytest.raises(AgentTowerError) as info:
        _resolve(layout("team", None, **spec), profile("p", ["x"]))
    assert info.value.details["field"] == "spec.workspace.worktree.repo"


@given(st.from_regex(BRANCH_RE, fullmatch=True))
def test_every_branch_the_rule_accepts_is_a_path_below_the_worktrees_dir(branch: str) -> None:
    tree = Worktree.at("/src/app", branch)
    assert tree.path.startswith("/src/app.worktrees/") and ".." not in tree.path.split("/")


# ---------------------------------------------------------------------------------- tmuxp


def _import(text: str, tmp_path: Path) -> list[dict[str, object]]:
    file = tmp_path / "ws.yaml"
    file.write_text(text)
    return list(convert(load_documents(text, str(file)), file).manifests)


def test_one_window_keeps_the_session_name_and_commands_become_initial_input(tmp_path: Path) -> None:
    out = _import("session_name: My Work\nwindows:\n  - layout: tiled\n    panes: [htop, pane]\n", tmp_path)
    assert out == [
        {
            "apiVersion": "agenttower.dev/v1alpha1",
            "kind": "Layout",
            "metadata": {"name": "My-Work"},
            "spec": {
                "session": "My-Work",
                "panes": [
                    {"role": "pane", "capability": "shell", "labelPattern": "p1", "initialInput": "htop"},
                    {"role": "pane", "capability": "shell", "labelPattern": "p2"},
                ],
                "tmuxLayout": "tiled",
            },
        }
    ]


def test_directories_environment_and_shell_make_a_profile(tmp_path: Path) -> None:
    text = (
        "session_name: s\nstart_directory: ./here\nenvironment: {PORT: 8000}\n"
        "windows:\n  - window_name: a\n    panes: [{shell: python3 -q, shell_command: [print(1)]}]\n"
        "  - window_name: b\n    start_directory: /abs\n"
        "    panes: [{suppress_history: true, shell_command: ls}]\n"
    )
    profiles = {
        m["metadata"]["name"]: m["spec"] for m in _import(text, tmp_path) if m["kind"] == "LaunchProfile"
    }  # type: ignore[index]
    assert profiles == {
        "s-a.p1": {
            "command": ["python3", "-q"],
            "env": {"PORT": "8000"},
            "workingDir": str(tmp_path / "here"),
        },
        "s-b.p1": {
            "command": ["sh", "-c", 'exec "$SHELL" -l'],
            "env": {"PORT": "8000"},
            "workingDir": "/abs",
        },
    }
    layouts = [m for m in _import(text, tmp_path) if m["kind"] == "Layout"]
    assert [m["spec"]["panes"][0]["initialInput"] for m in layouts] == ["print(1)", " ls"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (
            "session_name: s\nwindows:\n  - panes: [a]\n    options_after: {x: 1}\n",
            "windows.0.options_after",
            4,
        ),
        ("session_name: s\nplugins: [p]\nwindows: [{panes: [a]}]\n", "plugins", 2),
        (
            "session_name: s\nwindows:\n  - panes:\n      - {shell_command: a, enter: false}\n",
            "windows.0.panes.0.enter",
            4,
        ),
        ("session_name: s\nwindows:\n  - panes: [a]\n    mystery: 1\n", "windows.0.mystery", 4),
        ("windows: [{panes: [a]}]\n", "session_name", 1),
        ("session_name: s\nwindows: []\n", "windows", 2),
    ],
)
def test_what_cannot_be_honoured_is_named_with_its_line(
    text: str, field: str, line: int, tmp_path: Path
) -> None:
    with pytest.raises(AgentTowerError) as info:
        _import(text, tmp_path)
    assert info.value.code == "validation_failed"
    assert (info.value.details["field"], info.value.details["line"]) == (field, line)


@given(st.text(max_size=80))
def test_any_session_name_becomes_a_valid_layout_and_session_name(text: str) -> None:
    name = name_of(text)
    assert 1 <= len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
