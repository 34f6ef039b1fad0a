"""kubectl conventions that need no tmux: help text (Examples, whole summaries), CRD
short names and TYPE/NAME references, label selectors, `explain`, `get` of templates
and launch profiles, and validation messages in agenttower's words."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from agenttower.cli import refs, selectors
from agenttower.cli.main import VERBS, cli, summary
from agenttower.model.errors import AgentTowerError, ErrorCode
from agenttower.model.manifests import parse_text
from agenttower.model.schema import KIND_INFO, explain
from tests.manifests import SLEEP, layout, profile, write

HEAD = "apiVersion: agenttower.dev/v1alpha1\nkind: Layout\nmetadata: {name: a}\n"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTTOWER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AGENTTOWER_DESIRED_DIR", str(tmp_path / "desired"))
    return tmp_path


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _commands() -> list[click.Command]:
    ctx = click.Context(cli)
    found: list[click.Command] = []
    for name in VERBS:
        command = cli.get_command(ctx, name)
        assert command is not None
        found.append(command)
        if isinstance(command, click.Group):
            found.extend(command.commands.values())
    return found


@pytest.mark.parametrize("command", _commands(), ids=lambda c: c.name)
def test_every_verb_of_the_verbs_map_has_examples_in_its_help(command: click.Command) -> None:
    text = command.get_help(click.Context(command, info_name=command.name))
    examples = text.split("Examples:", 1)
    assert len(examples) == 2, f"{command.name} --help has no Examples:"
    assert "agenttower " in examples[1]


def test_top_level_help_shows_each_summary_whole_not_cut_mid_sentence() -> None:
    out = run("--help").output
    assert "..." not in out.split("Commands:", 1)[1]
    flat = " ".join(out.split())
    ctx = click.Context(cli)
    for name in VERBS:
        command = cli.get_command(ctx, name)
        assert command is not None
        line = summary(command)
        assert line and f"{name} {line}" in flat, name


def test_crds_carry_the_short_names_get_accepts() -> None:
    shorts = {info.kind: info.short_names for info in KIND_INFO}
    assert shorts == {"Layout": ("lo",), "Template": ("tpl",), "LaunchProfile": ("lp",)}
    for info in KIND_INFO:
        for short in info.short_names:
            assert refs.plural(short) == info.plural
        crd = yaml.safe_load((Path("crds") / info.crd_file).read_text())
        assert crd["spec"]["names"]["shortNames"] == list(info.short_names)


def test_type_slash_name_references_split_as_get_o_name_prints_them() -> None:
    assert refs.split("pane/team/s1", ()) == ("pane", ("team/s1",))
    assert refs.split("layout/team", ("layout/b",)) == ("layout", ("team", "b"))
    assert refs.split("pane", ("pane/team/s1", "team/s2")) == ("pane", ("team/s1", "team/s2"))
    assert refs.split("pane", ("pane/s1",)) == ("pane", ("pane/s1",))  # layout called `pane`
    assert refs.one("layout/team", None, "wait") == ("layout", "team")
    with pytest.raises(AgentTowerError):
        refs.one("layout", None, "wait")


def test_label_selectors_and_or_negate_as_kubectl_reads_them() -> None:
    labels = {"tier": "agents", "env": "dev"}
    assert selectors.parse("tier=agents")(labels)
    assert selectors.parse("tier==agents,env!=prod")(labels)
    assert not selectors.parse("tier=agents,env=prod")(labels)
    assert selectors.parse("env")(labels) and not selectors.parse("!env")(labels)
    assert selectors.parse("!owner")(labels)
    with pytest.raises(AgentTowerError) as bad:
        selectors.parse("a=b=c")
    assert bad.value.code == ErrorCode.VALIDATION_FAILED


def test_explain_reads_a_field_from_the_schema() -> None:
    target = explain("Layout.spec.target")
    assert target["type"] == "object" and "container" in [f["name"] for f in target["fields"]]
    assert "tmux server" in target["description"]
    policy = explain("lo.spec.restartPolicy")
    assert policy["enum"] == ["Never", "OnFailure", "Always"] and policy["default"] == "Never"
    assert explain("Template.spec.panes")["type"] == "[]object"
    out = run("explain", "Layout.spec.target")
    assert out.exit_code == 0 and "FIELD:    Layout.spec.target <object>" in out.output
    bad = run("explain", "Layout.spec.trget")
    assert bad.exit_code == 1 and "did you mean target?" in bad.output


def test_unknown_key_suggests_the_key_it_resembles_with_file_and_line() -> None:
    with pytest.raises(AgentTowerError) as err:
        parse_text(HEAD + "spec:\n  template: 1m+2s\n  restartPolicyy: Always\n", "x.yaml")
    wire = err.value.to_wire()
    assert wire["code"] == "validation_failed"
    assert wire["message"] == "x.yaml:6: spec.restartPolicyy: unknown field; did you mean restartPolicy?"


def test_a_misspelt_nested_key_is_reported_before_the_key_it_left_missing() -> None:
    text = HEAD + "spec:\n  template: 1m+2s\n  target: {logMount: {containerPath: /a, hostPth: /b}}\n"
    with pytest.raises(AgentTowerError) as err:
        parse_text(text, "x.yaml")
    assert "spec.target.logMount.hostPth: unknown field; did you mean hostPath?" in err.value.message


def test_an_unknown_key_with_no_near_name_lists_the_known_keys() -> None:
    with pytest.raises(AgentTowerError) as err:
        parse_text(HEAD + "spec: {template: 1m+2s, zzzz: 1}\n", "x.yaml")
    assert "unknown field (known: target, session, template, panes," in err.value.message


def test_an_enum_error_lists_the_allowed_values() -> None:
    with pytest.raises(AgentTowerError) as err:
        parse_text(HEAD + "spec: {template: 1m+2s, restartPolicy: Sometimes}\n", "x.yaml")
    assert err.value.details["reason"] == "must be one of 'Never', 'OnFailure', 'Always' (got 'Sometimes')"
    assert err.value.details["line"] == 4


def test_an_unknown_profile_names_the_known_ones_in_text_mode(dirs: Path) -> None:
    path = write(dirs / "a.yaml", layout("a", launch={"slave:s1": "nosuch"}))
    out = run("apply", "-f", str(path))
    assert out.exit_code == 1
    line = out.stderr.strip()
    assert line.startswith(f"error: managed_launch_command_not_found: {path}:")
    assert "launch profile 'nosuch' not found (known: aider, claude, codex, gemini, shell)" in line


def test_apply_of_a_directory_reports_every_broken_file_not_only_the_first(dirs: Path) -> None:
    (dirs / "d").mkdir()
    (dirs / "d" / "a.yaml").write_text(HEAD + "spec:\n  template: 1m+2s\n  restartPolicyy: Always\n")
    (dirs / "d" / "b.yaml").write_text(
        HEAD.replace("name: a", "name: b") + "spec: {template: 1m+2s, updateStrategy: X}\n"
    )
    out = run("apply", "-f", str(dirs / "d"))
    assert out.exit_code == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: validation_failed: {dirs}/d/a.yaml:6: spec.restartPolicyy")
    assert lines[1].startswith(
        f"error: validation_failed: {dirs}/d/b.yaml:4: spec.updateStrategy: must be one of"
    )
    as_json = run("apply", "-f", str(dirs / "d"), "-o", "json")
    body = json.loads(as_json.stdout)
    assert body["error"]["code"] == "validation_failed" and len(body["errors"]) == 2
    assert not (dirs / "desired").exists()  # nothing written


def test_apply_of_a_file_with_no_objects_is_an_error(dirs: Path) -> None:
    empty = dirs / "empty.yaml"
    empty.write_text("# only a comment\n---\n")
    out = run("apply", "-f", str(empty))
    assert out.exit_code == 1
    assert out.stderr.strip() == f"error: validation_failed: {empty}: filename: no objects passed to apply"


def test_get_launch_profiles_marks_built_ins_and_shows_declared_ones(dirs: Path) -> None:
    path = write(dirs / "desired" / "p.yaml", profile("sleeper", SLEEP), profile("claude", ["claude", "--x"]))
    lines = path.read_text().splitlines()
    at = {
        n: f"{path}:{lines.index('  ' + json.dumps('name') + ': ' + json.dumps(n)) + 1}"
        for n in ("sleeper", "claude")
    }
    table = run("get", "lp")
    assert table.exit_code == 0
    rows = {line.split()[0]: line.split() for line in table.output.splitlines()[1:]}
    assert rows["shell"][1:4] == ["-", "yes", "built-in"]
    assert rows["sleeper"][2:4] == ["no", at["sleeper"]]
    assert rows["claude"][2:4] == ["yes", at["claude"]]  # a built-in name, replaced by a manifest
    names = run("get", "launchprofiles", "-o", "name").output.split()
    assert names == [f"launchprofile/{n}" for n in ("aider", "claude", "codex", "gemini", "shell", "sleeper")]
    one = yaml.safe_load(run("get", "launchprofile/sleeper", "-o", "yaml").output)
    assert one["spec"]["command"] == SLEEP and one["status"] == {
        "builtIn": False,
        "source": one["status"]["source"],
    }


def test_get_templates_by_short_name_and_an_unknown_one(dirs: Path) -> None:
    out = run("get", "tpl")
    assert out.exit_code == 0
    assert [line.split()[:3] for line in out.output.splitlines()[1:]] == [
        ["1m+2s", "3", "yes"],
        ["2m+2s", "4", "yes"],
    ]
    missing = run("get", "template", "nope")
    assert missing.exit_code == 1 and "managed_template_not_found" in missing.stderr
    assert "(known: 1m+2s, 2m+2s)" in missing.stderr


def test_completion_scripts_for_each_shell_call_back_into_agenttower() -> None:
    for shell in ("bash", "zsh", "fish"):
        out = run("completion", shell)
        assert out.exit_code == 0 and "_AGENTTOWER_COMPLETE" in out.output


def test_every_broken_document_of_one_file_is_reported() -> None:
    text = (
        HEAD
        + "spec: {template: 1m+2s, suspnd: true}\n---\n"
        + HEAD.replace("name: a", "name: b")
        + "spec: {template: 1m+2s, restartPolicy: never}\n"
    )
    with pytest.raises(AgentTowerError) as err:
        parse_text(text, "two.yaml")
    lines = [e.located_message() for e in err.value.every()]
    assert lines == [
        "two.yaml:4: spec.suspnd: unknown field; did you mean suspend?",
        "two.yaml:9: spec.restartPolicy: must be one of 'Never', 'OnFailure', 'Always' (got 'never')",
    ]


def test_watch_is_for_records_not_the_desired_dirs_catalog(dirs: Path) -> None:
    out = run("get", "lp", "-w")
    assert out.exit_code == 1 and out.stderr.startswith("error: validation_failed: --watch: ")


WORD = "abcXYZ019_.-"
names = st.text(WORD, min_size=1, max_size=12).filter(lambda n: n.strip(".") != "")


@given(layout_name=names, label=names)
def test_a_pane_name_as_o_name_prints_it_reads_back_as_that_pane(layout_name: str, label: str) -> None:
    printed = f"pane/{layout_name}/{label}"
    assert refs.split(printed, ()) == ("pane", (f"{layout_name}/{label}",))
    assert refs.split("pane", (printed,)) == ("pane", (f"{layout_name}/{label}",))
    assert refs.split("pane", (f"{layout_name}/{label}",)) == ("pane", (f"{layout_name}/{label}",))
    assert refs.split(f"layout/{layout_name}", ()) == ("layout", (layout_name,))


@given(labels=st.dictionaries(names, names, max_size=4), key=names, value=names)
def test_a_selector_term_and_its_negation_never_agree(labels: dict[str, str], key: str, value: str) -> None:
    assert selectors.parse(f"{key}={value}")(labels) != selectors.parse(f"{key}!={value}")(labels)
    assert selectors.parse(key)(labels) != selectors.parse(f"!{key}")(labels)
    both = selectors.parse(f"{key},{key}={value}")(labels)
    assert both == (labels.get(key) == value)
