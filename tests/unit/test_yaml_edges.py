"""YAML and value edge cases: each is a located `validation_failed`, never a crash, and
no error quotes more than a short, redacted excerpt of what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenttower.model import yamlload
from agenttower.model.desired import resolve
from agenttower.model.errors import AgentTowerError
from agenttower.model.legacy import load_legacy
from agenttower.model.manifests import parse_bytes, parse_file, parse_text
from agenttower.model.yamlload import MAX_DEPTH, load_documents
from tests.manifests import layout, pane, profile, template

LOADERS = {"libyaml": getattr(yamlload, "_CComposer", None), "pure": yamlload._PureComposer}


@pytest.fixture(autouse=True, params=sorted(LOADERS))
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every edge case with libyaml's events and with PyYAML's own (the fallback when
    PyYAML was built without libyaml): both must refuse alike, at the same line."""
    composer = LOADERS[request.param]
    if composer is None:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(yamlload, "_Composer", composer)
    return str(request.param)


HEAD = "apiVersion: agenttower.dev/v1alpha1\nkind: Layout\nmetadata:\n  name: team\nspec:\n"
PROFILE = (
    "apiVersion: agenttower.dev/v1alpha1\nkind: LaunchProfile\nmetadata:\n  name: p\nspec:\n  command: [x]\n"
)


def error_of(text: str | bytes) -> AgentTowerError:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(AgentTowerError) as info:
        resolve(parse_bytes(data, "m.yaml"))
    assert info.value.code == "validation_failed"
    return info.value


def nest(levels: int, mapping: bool = False) -> str:
    """`levels` collections, the document's own mapping included."""
    inner = levels - 1
    return "a: " + ("{a: " * inner + "1" + "}" * inner if mapping else "[" * inner + "]" * inner) + "\n"


@pytest.mark.parametrize(
    "text, line, field",
    [
        ("spec: &a [*a]\n", 1, "spec.0"),
        (HEAD + "  target: &t\n    socket: *t\n", 7, "spec.target.socket"),
        ("x: 1\ny: &b {k: [1, *b]}\n", 2, "y.k.1"),
    ],
)
def test_recursive_alias_is_refused_at_the_alias(text: str, line: int, field: str) -> None:
    err = error_of(text)
    assert (err.details["line"], err.details["field"]) == (line, field)
    assert "recursive alias" in err.details["reason"]


@pytest.mark.parametrize("mapping", [False, True])
def test_nesting_is_capped_at_max_depth(mapping: bool) -> None:
    assert load_documents(nest(MAX_DEPTH, mapping), "f")
    for levels in (MAX_DEPTH + 1, 2_000, 3_000, 50_000):
        err = error_of(HEAD.replace("name: team", "name: team\n" + nest(levels, mapping).strip()))
        assert err.details["line"] == 5 and f"more than {MAX_DEPTH} levels" in err.details["reason"]


def test_nesting_is_capped_in_block_style_and_through_aliases() -> None:
    block = "".join("  " * i + "a:\n" for i in range(MAX_DEPTH + 1))
    assert error_of(block).details["line"] == MAX_DEPTH + 1
    half = MAX_DEPTH // 2
    ok = f"x: &a {'[' * half}{']' * half}\ny: {'[' * (half - 1)}*a{']' * (half - 1)}\n"
    assert load_documents(ok, "f")
    err = error_of(ok.replace("y: ", "y: ["))
    assert (err.details["line"], err.details["field"]) == (2, "y" + ".0" * half)
    assert "through this alias" in err.details["reason"]


def test_non_utf8_file_names_the_line_and_column_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEAD.encode() + "  template: 1m+2s\n  session: caf\xe9\n".encode("latin-1"))
    with pytest.raises(AgentTowerError) as info:
        parse_file(path)
    err = info.value
    assert (err.code, err.details["field"], err.details["line"]) == ("validation_failed", "file", 7)
    assert "byte 0xe9 at line 7, column 15 (byte offset 110)" in err.details["reason"]
    assert str(err.source) == f"{path}:7"
    # the column counts characters, not bytes
    assert "column 4 (byte offset 4)" in error_of("é: ".encode() + b"\xff").details["reason"]


def test_control_characters_are_located() -> None:
    err = error_of("x: 1\ny: a\x1bb\n")
    assert (err.details["line"], err.details["reason"]) == (2, "unacceptable character #x001b at column 5")


@pytest.mark.parametrize(
    "text",
    [
        HEAD.replace("name: team", "name: " + "x" * 2_000_000) + "  template: 1m+2s\n",
        HEAD + "  template: 1m+2s\n  launch: {'" + "a:" * 50_000 + "': shell}\n",
        HEAD + "  panes: [{role: a, capability: b, labelPattern: '" + "x" * 100_000 + "'}]\n",
        HEAD + "  template: !" + "t" * 100_000 + " 1m+2s\n",
        HEAD + "  template: 1m+2s\n  " + "k" * 100_000 + ": 1\n",
        HEAD.replace("kind: Layout", "kind: " + "L" * 100_000),
        HEAD + "  template: 1m+2s\n  session: " + "9" * 5_000 + "\n",
    ],
    ids=["name", "launch-key", "label", "tag", "unknown-key", "kind", "huge-int"],
)
def test_errors_quote_a_short_excerpt(text: str) -> None:
    err = error_of(text)
    assert len(err.located_message()) <= 500, err.located_message()[:200]
    assert len(json.dumps(err.to_wire())) <= 1_000
    assert "x" * 61 not in err.located_message() and "9" * 61 not in err.located_message()
    assert err.details["line"] in (2, 4, 6, 7)


@pytest.mark.parametrize(
    "text, secret",
    [
        (PROFILE + "  env: {API_TOKEN: 12345}\n", "12345"),
        (PROFILE + "  env: {my_secret: 3.25}\n", "3.25"),
        (PROFILE + "  env:\n    DB_PASSWORD: 9" + "0" * 5_000 + "\n", "9000000"),
        (PROFILE + "  env: {API_TOKEN=sk-live-abc: x}\n", "sk-live-abc"),
        (PROFILE.replace("kind: LaunchProfile", "kind: {env: {API_KEY: sk-live-abc}}"), "sk-live-abc"),
    ],
)
def test_fr021_secret_env_values_are_never_shown_in_errors(text: str, secret: str) -> None:
    err = error_of(text)
    assert secret not in err.located_message() and secret not in json.dumps(err.to_wire())
    assert err.details["line"] >= 1


def test_non_secret_values_are_still_shown() -> None:
    err = error_of(PROFILE + "  env: {PLAIN: 12345}\n")
    assert err.details["reason"] == "must be a string (got 12345; quote it)"


DOTS = [".", "..", "...", "'..'"]


@pytest.mark.parametrize("dots", DOTS)
@pytest.mark.parametrize(
    "build, field",
    [
        (lambda d: layout(d, session="s"), "metadata.name"),
        (lambda d: template(d, [pane("a", "x")]), "metadata.name"),
        (lambda d: profile(d, ["x"]), "metadata.name"),
        (lambda d: layout("l", None, panes=[pane("a", d)]), "label"),
        (lambda d: layout("l", None, panes=[pane(d, "x")]), "spec.panes.0.role"),
        (lambda d: layout("l", None, panes=[pane("a", "x", capability=d)]), "spec.panes.0.capability"),
        (lambda d: layout("l", target={"socket": d}), "spec.target.socket"),
        (lambda d: layout("l", target={"container": d}), "spec.target.container"),
        (lambda d: layout("l", d), "spec.template"),
        (lambda d: layout("l", launch={f"master:{d}": "shell"}), "spec.launch.master:" + "{d}"),
    ],
    ids=[
        "layout",
        "template",
        "profile",
        "label",
        "role",
        "capability",
        "socket",
        "container",
        "tpl-ref",
        "key",
    ],
)
def test_fr016_names_made_only_of_dots_are_refused(build: object, field: str, dots: str) -> None:
    """`.` and `..` as a layout name put its logs at logs/host/./m1.log, logs/host/../m1.log."""
    value = dots.strip("'")
    doc = build(value)  # type: ignore[operator]
    err = error_of(json.dumps(doc, indent=1))
    assert err.details["field"] == field.format(d=value)
    assert "only of dots" in err.details["reason"] or "'role:label'" in err.details["reason"]
    assert err.details["line"] > 1


def test_fr016_dots_inside_names_are_still_fine() -> None:
    text = json.dumps(layout("a.b", session="ab", target={"socket": ".s"})) + "\n---\n"
    text += json.dumps(layout(".c", None, session="c", panes=[pane("a", "..x{ordinal}")]))
    layouts = resolve(parse_text(text, "m.yaml")).layouts
    assert [p.label for p in layouts[".c"].panes] == ["..x1"]


def test_fr024_legacy_override_named_only_dots_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "dots.yaml").write_text(
        "name: '..'\npanes: [{role: a, capability: b, label_pattern: x}]\n"
    )
    legacy = load_legacy(tmp_path / "t", None)
    assert legacy.templates == {} and len(legacy.warnings) == 1
