"""Manifests: strict YAML, validation, built-ins, labels, legacy override dirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agenttower.model.builtins import BUILTIN_TEMPLATES
from agenttower.model.desired import resolve
from agenttower.model.durations import parse_duration
from agenttower.model.errors import AgentTowerError
from agenttower.model.legacy import load_legacy
from agenttower.model.manifests import is_manifest_name, manifest_files, parse_text
from agenttower.model.redaction import redact
from agenttower.model.resolved import DesiredLayout
from agenttower.model.yamlload import load_documents
from tests.manifests import layout, pane, profile, template


def docs(*items: dict[str, object]) -> str:
    return "\n---\n".join(json.dumps(i) for i in items)


def error_of(text: str) -> AgentTowerError:
    with pytest.raises(AgentTowerError) as info:
        resolve(parse_text(text, "m.yaml"))
    return info.value


def test_yaml_12_scalars_keep_identifiers_as_strings() -> None:
    (doc,) = load_documents("a: on\nb: no\nc: 012\nd: true\ne: ~\nf: 0x1F\ng: 1.5\n", "f")
    assert doc.data == {"a": "on", "b": "no", "c": 12, "d": True, "e": None, "f": 31, "g": 1.5}


def test_yaml_line_numbers_per_document() -> None:
    a, b = load_documents("# c\nx: 1\n---\n\ny:\n  z: [1, 2]\n", "f")
    assert (a.start_line, a.line_of(("x",))) == (2, 2)
    assert (b.start_line, b.line_of(("y", "z", 1))) == (5, 6)
    assert b.line_of(("y", "nope")) == 5


def test_yaml_refuses_explicit_tags_and_complex_keys() -> None:
    for text in ("a: !!python/object:os.system x\n", "? [a]\n: 1\n"):
        with pytest.raises(AgentTowerError):
            load_documents(text, "f")


def test_fr001_builtin_templates_and_ordinal_labels() -> None:
    assert {name: [p.label_pattern for p in t.panes] for name, t in BUILTIN_TEMPLATES.items()} == {
        "1m+2s": ["m{ordinal}", "s{ordinal}", "s{ordinal}"],
        "2m+2s": ["m{ordinal}", "m{ordinal}", "s{ordinal}", "s{ordinal}"],
    }
    layouts = resolve(parse_text(docs(layout("a", "2m+2s"), layout("b")), "m.yaml")).layouts
    assert [(p.label, p.role, p.capability) for p in layouts["a"].panes] == [
        ("m1", "master", "orchestrator"),
        ("m2", "master", "orchestrator"),
        ("s1", "slave", "worker"),
        ("s2", "slave", "worker"),
    ]
    assert [p.label for p in layouts["b"].panes] == ["m1", "s1", "s2"]
    assert {p.launch.profile for p in layouts["b"].panes} == {"shell"}
    assert layouts["b"].panes[0].launch.command is None


def test_fr002_launch_override_by_role_label_beats_template_default() -> None:
    text = docs(
        template("t", [pane("master", "m{ordinal}", "a"), pane("slave", "w{ordinal}", "a")]),
        profile("a", ["a"]),
        profile("b", ["b", "--x"], env={"K": "v"}, workingDir="/w"),
        layout("l", "t", launch={"slave:w1": "b"}),
    )
    panes = resolve(parse_text(text, "m.yaml")).layouts["l"].panes
    assert [(p.label, p.launch.command) for p in panes] == [("m1", ("a",)), ("w1", ("b", "--x"))]
    assert panes[1].launch.env == (("K", "v"),) and panes[1].launch.working_dir == "/w"
    assert panes[0].spec_hash != panes[1].spec_hash


def test_fr002_template_default_profile_must_resolve() -> None:
    err = error_of(docs(template("t", [pane("master", "m1", "ghost")])))
    assert err.code == "managed_launch_command_not_found"
    assert err.details["profile_name"] == "ghost" and "shell" in err.details["known_profiles"]


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"command": []}, "spec.command"),
        ({"command": ["x\x00"]}, "spec.command.0"),
        ({"command": ["x"], "env": {"1BAD": "v"}}, "spec.env.1BAD"),
        ({"command": ["x"], "workingDir": "relative"}, "spec.workingDir"),
    ],
)
def test_fr002_launch_profile_rules(spec: dict[str, object], field: str) -> None:
    body = {
        "apiVersion": "agenttower.dev/v1alpha1",
        "kind": "LaunchProfile",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    err = error_of(json.dumps(body))
    assert (err.code, err.details["field"]) == ("validation_failed", field)


def test_fr003_launch_key_must_name_a_pane_of_the_layout() -> None:
    err = error_of(docs(layout("l", launch={"slave:s9": "shell"})))
    assert err.code == "validation_failed" and "no pane" in err.details["reason"]


def test_fr016_identifier_rules() -> None:
    assert error_of(docs(layout("x" * 65))).details["field"] == "metadata.name"
    assert error_of(docs(layout("a", session="a:b"))).details["field"] == "spec.session"
    err = error_of(docs(layout("dotted.name")))
    assert err.details["field"] == "spec.session" and "tmux" in err.details["reason"]
    assert resolve(parse_text(docs(layout("dotted.name", session="dotted_name")), "m")).layouts
    err = error_of(docs(layout("l", None, panes=[pane("a", "bad label")])))
    assert err.details["field"].endswith("labelPattern")


def test_template_xor_panes_and_socket_xor_socket_path() -> None:
    assert "exactly one" in error_of(docs(layout("l", None))).details["reason"]
    both = layout("l", target={"socket": "s", "socketPath": "/tmp/s"})
    assert "at most one" in error_of(docs(both)).details["reason"]


def test_same_session_twice_on_one_target_conflicts() -> None:
    err = error_of(docs(layout("a", session="s"), layout("b", session="s")))
    assert err.code == "managed_session_name_conflict"
    assert err.details["tmux_session_name"] == "s"
    ok = resolve(
        parse_text(docs(layout("a", session="s"), layout("b", session="s", target={"socket": "x"})), "m")
    )
    assert {lay.target.key for lay in ok.layouts.values()} == {"host", "host:x"}


def test_fr024_legacy_override_dirs(tmp_path: Path) -> None:
    tdir, pdir = tmp_path / "managed_templates", tmp_path / "launch_commands"
    assert load_legacy(tdir, pdir).templates == {}
    assert not tdir.exists() and not pdir.exists()  # never auto-created
    tdir.mkdir()
    pdir.mkdir()
    (tdir / "mine.yaml").write_text(
        "name: 1m+2s\npanes:\n  - {role: master, capability: lead, label_pattern: boss,"
        " default_launch_command_ref: claude}\n"
    )
    (tdir / "broken.yaml").write_text("name: [unclosed\n")
    (pdir / "claude.yaml").write_text("name: claude\ncommand: [claude, --x]\nenv: {A: b}\nworking_dir: /w\n")
    (pdir / "bad.yaml").write_text("name: bad\ncommand: 'a shell string'\n")
    legacy = load_legacy(tdir, pdir)
    assert set(legacy.templates) == {"1m+2s"} and set(legacy.profiles) == {"claude"}
    assert len(legacy.warnings) == 2 and all("skipped malformed" in w for w in legacy.warnings)
    resolved = resolve(parse_text(docs(layout("l")), "m.yaml"), legacy).layouts["l"]
    assert [(p.label, p.launch.command) for p in resolved.panes] == [("boss", ("claude", "--x"))]


def test_manifest_file_discovery_skips_dot_and_editor_files(tmp_path: Path) -> None:
    for name in (
        "a.yaml",
        "b.yml",
        ".hidden.yaml",
        "c.yaml~",
        ".#d.yaml",
        "#e.yaml#",
        "x.yaml.swp",
        "notes.txt",
        ".git/config.yaml",
        "sub/f.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in manifest_files(tmp_path)] == [
        "a.yaml",
        "b.yml",
        "sub/f.yaml",
    ]
    assert not is_manifest_name("x.yaml.swp")


def test_redaction_of_env_keys_any_case() -> None:
    payload = {
        "launch": {
            "env": {"API_TOKEN": "t", "my_secret": "s", "sshKey": "k", "Password": "p", "PATH": "/bin"},
            "command": ["--token", "visible"],
        }
    }
    assert redact(payload) == {
        "launch": {
            "env": {
                "API_TOKEN": "***",
                "my_secret": "***",
                "sshKey": "***",
                "Password": "***",
                "PATH": "/bin",
            },
            "command": ["--token", "visible"],
        }
    }


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25 and parse_duration("0") == 0
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_a_layout_fingerprint_stays_what_records_already_hold() -> None:
    """A layout record keeps its fingerprint; one computed differently after an upgrade
    would read as a changed spec for every layout. These are the values stored before
    `fingerprint` could take the caller's `to_json()` (with notify and an initialInput,
    and without), and they must not move; handing it `to_json()` gives the same."""

    def resolved(doc: dict[str, Any]) -> DesiredLayout:
        return next(iter(resolve(parse_text(json.dumps(doc), "t.yaml")).layouts.values()))

    rich = layout(
        "rich",
        template=None,
        panes=[
            {"role": "w", "capability": "worker", "labelPattern": "w1", "initialInput": "first task"},
            {"role": "w", "capability": "worker", "labelPattern": "w2"},
        ],
    )
    rich["spec"]["notify"] = ["ntfy", "publish", "team"]
    for doc, pinned in ((layout("team"), "0e6617e1753bd86e"), (rich, "e22366f23c30ec19")):
        assert resolved(doc).fingerprint() == pinned
        given = resolved(doc)
        data = given.to_json()
        before = json.dumps(data, sort_keys=True)
        assert given.fingerprint(data) == pinned
        assert json.dumps(data, sort_keys=True) == before  # left as it was
