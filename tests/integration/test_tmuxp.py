"""`import tmuxp FILE` and `export session NAME`, against a real tmux server.

The example workspaces that ship with tmuxp itself (its sdist's examples/, fetched by
.ci/tmuxp-examples.sh, never copied here) each either import and apply, every pane
ready in the session it names, or fail with a `validation_failed` naming the one
tmuxp field agenttower cannot honour. An exported session, applied again, gives the
same windows, panes, commands and working directories.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import AtCli, Env, eventually
from tests.integration.test_controller import panes

pytestmark = pytest.mark.tmux

PINNED = "1.76.0"  # .ci/tmuxp-examples.sh


def _examples_dir() -> Path | None:
    named = os.environ.get("AGENTTOWER_TMUXP_EXAMPLES")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (
        Path(named) if named else None,
        cache / "agenttower-ci" / f"tmuxp-{PINNED}" / "examples",
    ):
        if candidate is not None and (candidate / "3-pane.yaml").is_file():
            return candidate
    return None


EXAMPLES = _examples_dir()
FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".json")) if EXAMPLES else []

# what each example asks that agenttower cannot do (any one of them may be named first:
# a JSON file's keys come in another order than its YAML twin's)
UNSUPPORTED = {
    "2-pane-synchronized": {"windows.0.options_after"},
    "env-variables": {"before_script"},
    "main-pane-height": {"windows.0.options"},
    "main-pane-height-percentage": {"windows.0.options"},
    "options": {"options", "global_options", "windows.0.options"},
    "pane-shell": {"windows.0.options"},
    "plugin-system": {"plugins"},
    "skip-send": {"windows.0.panes.0.shell_command.1.enter"},
    "skip-send-pane-level": {"windows.0.panes.0.enter", "windows.0.panes.1.enter"},
}


def test_tmuxp_examples_are_found() -> None:
    """Without the examples the parametrized test below has nothing to run: CI (which sets
    AGENTTOWER_REQUIRE_TMUXP_EXAMPLES=1) fails here instead of passing on nothing."""
    if not FILES:
        if os.environ.get("AGENTTOWER_REQUIRE_TMUXP_EXAMPLES") == "1":
            pytest.fail("tmuxp's examples are missing: run .ci/tmuxp-examples.sh")
        pytest.skip("tmuxp's examples are not fetched (.ci/tmuxp-examples.sh)")
    assert len(FILES) >= 40  # 1.76.0 ships 44: most in YAML and JSON


def _pane_count(workspace: dict[str, Any]) -> dict[str, int]:
    return {str(i): len(w["panes"]) for i, w in enumerate(workspace["windows"])}


@pytest.mark.parametrize("example", FILES, ids=[p.name for p in FILES])
def test_tmuxp_example_imports_and_applies_or_names_the_unsupported_field(
    env: Env, at: type[AtCli], example: Path
) -> None:
    imported = at.run("import", "tmuxp", str(example))
    expected = UNSUPPORTED.get(example.stem)
    if expected is not None:
        assert imported.exit_code == 1 and imported.stdout == ""
        error = imported.stderr.strip().splitlines()[-1]
        assert error.startswith(f"error: validation_failed: {example}:")
        field = error.split(": ")[3]
        assert field in expected, error
        assert "tmuxp field not supported" in error
        return
    assert imported.exit_code == 0, imported.stderr
    docs = list(yaml.safe_load_all(imported.stdout))
    layouts = [d for d in docs if d["kind"] == "Layout"]
    text = example.read_text()
    workspace = json.loads(text) if example.suffix == ".json" else yaml.safe_load(text)
    assert [len(d["spec"]["panes"]) for d in layouts] == list(_pane_count(workspace).values())

    manifest = env.root / "imported.yaml"
    manifest.write_text(imported.stdout)
    applied = at.run("apply", "-f", str(manifest))
    assert applied.exit_code == 0, applied.output + applied.stderr
    sessions = env.tmux("list-panes", "-a", "-F", "#{session_name}").stdout.split()
    assert sorted(sessions) == sorted(d["spec"]["session"] for d in layouts for _ in d["spec"]["panes"])
    states = {p["metadata"]["name"]: p["status"]["state"] for p in panes(at)}
    assert len(states) == sum(len(d["spec"]["panes"]) for d in layouts)
    assert set(states.values()) == {"ready"}, states


def test_imported_workspace_runs_its_commands_where_and_with_what_it_says(env: Env, at: type[AtCli]) -> None:
    """Our own workspace in tmuxp's shapes: session environment, a relative window
    start_directory, shell_command_before and a pane's commands, typed into its shell."""
    work = env.root / "proj"
    (work / "sub").mkdir(parents=True)
    (env.root / "ws.yaml").write_text(
        "session_name: my project\n"
        "start_directory: ./proj\n"
        "environment: {GREETING: hello}\n"
        "windows:\n"
        "  - window_name: main\n"
        "    start_directory: sub\n"
        "    shell_command_before: [echo before >> log.txt]\n"
        "    panes:\n"
        "      - shell_command: ['echo \"$GREETING\" >> log.txt', 'pwd >> log.txt']\n"
        "      - blank\n"
    )
    imported = at.run("import", "tmuxp", str(env.root / "ws.yaml"))
    assert imported.exit_code == 0, imported.stderr
    (env.root / "ws-at.yaml").write_text(imported.stdout)
    first = at.run("apply", "-f", str(env.root / "ws-at.yaml"))
    assert first.exit_code == 0, first.output + first.stderr
    log = work / "sub" / "log.txt"

    def typed() -> bool:  # a pass after the panes are ready types their commands, once
        at.run("apply", "-f", str(env.root / "ws-at.yaml"))
        return log.exists() and len(log.read_text().splitlines()) >= 4

    eventually(typed, what="the commands typed into both panes")
    lines = log.read_text().splitlines()
    assert sorted(lines) == sorted(["before", "before", "hello", str(work / "sub")])
    assert (
        env.tmux("list-panes", "-t", "=my-project:", "-F", "#{pane_current_path}").stdout.split()
        == [str(work / "sub")] * 2
    )


def _session(env: Env, name: str) -> list[tuple[str, str, str]]:
    fmt = "#{window_index}\t#{pane_current_command}\t#{pane_current_path}"
    out = env.tmux("list-panes", "-s", "-t", f"={name}:", "-F", fmt).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]  # type: ignore[misc]


def test_exported_session_applied_again_is_an_equivalent_session(env: Env, at: type[AtCli]) -> None:
    for d in ("a", "b"):
        (env.root / d).mkdir()
    env.tmux(
        "-f", "/dev/null", "new-session", "-d", "-s", "work", "-c", str(env.root / "a"), "exec sleep 600"
    )
    env.tmux("split-window", "-t", "=work:", "-c", str(env.root / "b"), "exec sleep 601")
    before = _session(env, "work")
    assert [(w, c) for w, c, _ in before] == [("0", "sleep"), ("0", "sleep")]

    exported = at.run("export", "session", "work")
    assert exported.exit_code == 0, exported.stderr
    docs = list(yaml.safe_load_all(exported.stdout))
    assert [d["kind"] for d in docs] == ["LaunchProfile", "LaunchProfile", "Layout"]
    assert [d["spec"]["command"] for d in docs[:2]] == [["sleep", "600"], ["sleep", "601"]]

    env.tmux("kill-session", "-t", "=work")
    (env.root / "work.yaml").write_text(exported.stdout)
    applied = at.run("apply", "-f", str(env.root / "work.yaml"))
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert sorted(_session(env, "work")) == sorted(before)  # panes, commands, directories
    assert len(panes(at)) == 2

    again = at.run("export", "session", "work")  # and it exports as it was exported
    assert [d["spec"] for d in yaml.safe_load_all(again.stdout)][:2] == [d["spec"] for d in docs[:2]]


def test_export_of_a_missing_session_is_an_error(env: Env, at: type[AtCli]) -> None:
    env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "other")
    result = at.run("export", "session", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: validation_failed: session: no tmux session 'nope' on host")


def test_export_of_a_session_of_two_windows_is_a_layout_per_window(env: Env, at: type[AtCli]) -> None:
    """A Layout is one window: each window is exported as its own (session `<name>-w<index>`)."""
    env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "two", "-c", str(env.root), "exec sleep 600")
    env.tmux("split-window", "-t", "=two:", "-c", str(env.root), "exec sleep 601")
    env.tmux("new-window", "-t", "=two:", "-c", str(env.home), "exec sleep 602")
    exported = at.run("export", "session", "two")
    assert exported.exit_code == 0, exported.stderr
    layouts = [d for d in yaml.safe_load_all(exported.stdout) if d["kind"] == "Layout"]
    assert [(d["metadata"]["name"], len(d["spec"]["panes"])) for d in layouts] == [
        ("two-w0", 2),
        ("two-w1", 1),
    ]
    env.tmux("kill-session", "-t", "=two")
    (env.root / "two.yaml").write_text(exported.stdout)
    applied = at.run("apply", "-f", str(env.root / "two.yaml"))
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert [c for _, c, _ in _session(env, "two-w0")] == ["sleep", "sleep"]
    assert _session(env, "two-w1") == [("0", "sleep", str(env.home))]
