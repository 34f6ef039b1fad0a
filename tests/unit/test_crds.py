"""crds/ is generated from the models: it must not drift, must agree with them, and the
CRDs must be structural (or `kubectl apply` refuses them)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from agenttower.cli.schema_cmd import schema_command
from agenttower.model.resources import KINDS
from agenttower.model.schema import KIND_INFO, UNION_FILE, render_all

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
DESIRED = REPO / "desired"
REGENERATE = "run `agenttower schema --write crds/` and commit the result"

Json = dict[str, Any]


def _validator(name: str = UNION_FILE) -> jsonschema.Draft202012Validator:
    schema = json.loads((CRDS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _schema_accepts(doc: Json, name: str = UNION_FILE) -> bool:
    return _validator(name).is_valid(doc)


def _model_accepts(doc: Json) -> bool:
    try:
        KINDS[doc["kind"]].model_validate(doc)
    except ValidationError:
        return False
    return True


# --- drift -------------------------------------------------------------------------------


def test_crds_match_the_models() -> None:
    expected = render_all()
    on_disk = {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(CRDS.iterdir())
        if p.suffix in (".json", ".yaml")
    }
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"crds/ has drifted from agenttower.model.resources "
        f"(out of date: {stale or 'none'}; not generated: {extra or 'none'}); {REGENERATE}"
    )


def test_schema_command_prints_the_union_and_writes_every_file(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(schema_command, [])
    assert printed.exit_code == 0, printed.output
    assert printed.output == render_all()[UNION_FILE]

    out = tmp_path / "new" / "crds"
    written = runner.invoke(schema_command, ["--write", str(out)])
    assert written.exit_code == 0, written.output
    assert {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()} == render_all()
    again = runner.invoke(schema_command, ["--write", str(out)])
    assert again.output.count("unchanged") == len(render_all())


# --- the JSON Schema accepts what the models accept ----------------------------------------


def _desired_documents() -> Iterator[Any]:
    for path in sorted(DESIRED.glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc is not None:
                yield pytest.param(doc, id=f"{path.name}#{index}")


@pytest.mark.parametrize("doc", list(_desired_documents()))
def test_desired_manifests_validate_against_the_union_schema(doc: Json) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(doc)]
    assert not errors
    kind_file = next(info.schema_file for info in KIND_INFO if info.kind == doc["kind"])
    assert _schema_accepts(doc, kind_file)


@pytest.mark.parametrize("path", sorted(DESIRED.glob("*.yaml")), ids=lambda p: p.name)
def test_desired_manifests_point_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../crds/agenttower.schema.json"


LAYOUT: Json = {
    "apiVersion": "agenttower.dev/v1alpha1",
    "kind": "Layout",
    "metadata": {"name": "team"},
    "spec": {"template": "1m+2s", "launch": {"master:m1": "lead"}, "tmuxLayout": "tiled"},
}
TEMPLATE: Json = {
    "apiVersion": "agenttower.dev/v1alpha1",
    "kind": "Template",
    "metadata": {"name": "1m+2s"},
    "spec": {"panes": [{"role": "master", "capability": "c", "labelPattern": "m{ordinal}"}]},
}
PROFILE: Json = {
    "apiVersion": "agenttower.dev/v1alpha1",
    "kind": "LaunchProfile",
    "metadata": {"name": "lead"},
    "spec": {"command": ["sh", "-c", "exec sleep infinity"], "env": {"ROLE": "lead"}},
}
_DELETE = object()


def _with(base: Json, path: str, value: Any) -> Json:
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


REJECTED = [
    pytest.param(_with(PROFILE, "spec.command", "sh -c 'sleep 1'"), id="string-command"),
    pytest.param(_with(PROFILE, "spec.command", []), id="empty-command"),
    pytest.param(_with(PROFILE, "spec.cmd", ["sh"]), id="unknown-spec-field"),
    pytest.param(_with(LAYOUT, "status", {}), id="unknown-top-level-field"),
    pytest.param(_with(LAYOUT, "spec.target.hostname", "x"), id="unknown-nested-field"),
    pytest.param(_with(TEMPLATE, "spec.panes.0.label", "x"), id="unknown-pane-field"),
    pytest.param(_with(LAYOUT, "kind", "Deployment"), id="unknown-kind"),
    pytest.param(_with(LAYOUT, "apiVersion", "agenttower.dev/v1"), id="wrong-api-version"),
    pytest.param(_with(LAYOUT, "spec.restartPolicy", "Sometimes"), id="bad-restart-policy"),
    pytest.param(_with(LAYOUT, "metadata.name", 7), id="number-name"),
]


@pytest.mark.parametrize("doc", REJECTED)
def test_the_json_schema_rejects_what_the_models_reject(doc: Json) -> None:
    assert not _schema_accepts(doc)
    if doc["kind"] in KINDS:
        assert not _model_accepts(doc)
        kind_file = f"{doc['kind'].lower()}.schema.json"
        assert not _schema_accepts(doc, kind_file)


# Each identifier regex and validator, restated as `pattern`s: the two must agree. (Python's
# `re` lets `$` match before a final newline, so no sample ends in "\n".)
PARITY = [
    (
        LAYOUT,
        "metadata.name",
        ["a", "a.b-c_D9", "x" * 64, "", "x" * 65, "a b", "1m+2s", "é", ".", "..", ".a."],
    ),
    (TEMPLATE, "metadata.name", ["1m+2s", "x" * 64, "x" * 65, "a/b", "", "..", "...", "+.", ".+"]),
    (LAYOUT, "spec.session", ["work", "a-b_c", "a.b", "a:b", "", "x" * 65, None]),
    (LAYOUT, "spec.tmuxLayout", ["tiled", "bb62,159x48,0,0{79x48,0,0[1x1]}", "a b", "x" * 2049]),
    (LAYOUT, "spec.launch.master:m1", ["lead", "1m+2s", "a b", ""]),
    (LAYOUT, "spec.target.container", ["box", "a.b", "a b", None, ".", "..", "." * 64]),
    (LAYOUT, "spec.target.user", ["bob", "bob smith", "bob\tx", "bob\x7f", None]),
    (LAYOUT, "spec.target.socketPath", ["/run/s", "run/s", "/run/\x01", None]),
    (TEMPLATE, "spec.panes.0.labelPattern", ["m{ordinal}", "{ordinal}", "m{ord}", "", "a b"]),
    (TEMPLATE, "spec.panes.0.launch", ["lead", "1m+2s", "a b", None]),
    (PROFILE, "spec.command", [["a\x00b"], ["a b", "\t"], [1]]),
    (PROFILE, "spec.env.A_1", ["x", "a\x00", 1]),
    (PROFILE, "spec.env._" + "a" * 255, ["x"]),
    (PROFILE, "spec.env.a" + "a" * 256, ["x"]),
    (PROFILE, "spec.env.1A", ["x"]),
    (PROFILE, "spec.workingDir", ["/tmp", "tmp", "/tmp\n/x", None]),
]


@pytest.mark.parametrize(
    ("doc", "label"),
    [
        pytest.param(_with(base, path, value), f"{path}={value!r}"[:80], id=f"{path}-{i}")
        for base, path, values in PARITY
        for i, value in enumerate(values)
    ],
)
def test_the_json_schema_agrees_with_the_models(doc: Json, label: str) -> None:
    assert _schema_accepts(doc) == _model_accepts(doc), label


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(LAYOUT, id="template"),
        pytest.param(
            _with(_with(LAYOUT, "spec.template", _DELETE), "spec.panes", TEMPLATE["spec"]["panes"]),
            id="panes",
        ),
        pytest.param(_with(LAYOUT, "spec.panes", TEMPLATE["spec"]["panes"]), id="both"),
        pytest.param(_with(LAYOUT, "spec.template", _DELETE), id="neither"),
        pytest.param(_with(LAYOUT, "spec.panes", None), id="template-and-null-panes"),
        pytest.param(
            _with(LAYOUT, "spec.target", {"socket": "s", "socketPath": "/s"}), id="socket-and-socketPath"
        ),
        pytest.param(
            _with(LAYOUT, "spec.target", {"socket": None, "socketPath": "/s"}),
            id="null-socket-and-socketPath",
        ),
    ],
)
def test_the_json_schema_states_the_cross_field_rules(doc: Json) -> None:
    assert _schema_accepts(doc) == _model_accepts(doc)


# --- the CRDs are structural ---------------------------------------------------------------

# apiextensions.k8s.io/v1 JSONSchemaProps, less what a CRD may not use ($ref, definitions,
# patternProperties, dependencies, additionalItems, ...).
_CRD_KEYWORDS = {
    "type", "format", "description", "default", "nullable", "enum", "pattern",
    "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf",
    "maxLength", "minLength", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "properties", "additionalProperties",
    "items", "allOf", "anyOf", "oneOf", "not", "example", "externalDocs",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}  # fmt: skip
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_NOT_IN_JUNCTORS = {
    "type",
    "description",
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
}


def _structural_problems(node: Json, where: str, in_junctor: bool = False) -> Iterator[str]:
    if not isinstance(node, dict):
        yield f"{where}: not a schema object"
        return
    for key in sorted(set(node) - _CRD_KEYWORDS):
        yield f"{where}: {key!r} is not allowed in a CRD schema"
    if in_junctor:
        for key in sorted(_NOT_IN_JUNCTORS & set(node)):
            yield f"{where}: {key!r} inside allOf/anyOf/oneOf/not"
    elif "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        yield f"{where}: no type"
    if node.get("type") == "null":
        yield f"{where}: type null (use nullable: true)"
    if "default" in node and node["default"] is None:
        yield f"{where}: default null"
    if "properties" in node and "additionalProperties" in node:
        yield f"{where}: both properties and additionalProperties"
    if isinstance(node.get("additionalProperties"), bool):
        yield f"{where}: boolean additionalProperties"
    # An object must say what it holds, or the API server prunes everything in it.
    holds = {"properties", "additionalProperties", "x-kubernetes-preserve-unknown-fields"}
    if node.get("type") == "object" and not in_junctor and not holds & set(node):
        yield f"{where}: object without properties"
    for name, sub in node.get("properties", {}).items():
        yield from _structural_problems(sub, f"{where}.{name}", in_junctor)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _structural_problems(node[key], f"{where}.{key}", in_junctor)
    for key in _JUNCTORS:
        branches = node.get(key)
        if branches is None:
            continue
        for i, branch in enumerate(branches if isinstance(branches, list) else [branches]):
            if branch == {"type": "null"} or (isinstance(branch, dict) and "type" in branch):
                yield f"{where}.{key}[{i}]: type in a junctor (a null branch is not structural)"
            yield from _structural_problems(branch, f"{where}.{key}[{i}]", in_junctor=True)


def _no_refs(value: Any, where: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            if key in ("$ref", "$defs", "definitions", "const"):
                yield f"{where}: {key!r}"
            yield from _no_refs(sub, f"{where}.{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _no_refs(sub, f"{where}[{i}]")


@pytest.mark.parametrize("info", KIND_INFO, ids=lambda info: info.crd_file)
def test_each_crd_is_structural(info: Any) -> None:
    crd = yaml.safe_load((CRDS / info.crd_file).read_text(encoding="utf-8"))
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert spec["group"] == "agenttower.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == info.kind
    assert spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)

    root = version["schema"]["openAPIV3Schema"]
    assert root["type"] == "object"
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    # Of metadata, a CRD may only restrict name and generateName.
    assert set(root["properties"]["metadata"].get("properties", {})) <= {"name", "generateName"}
    problems = [*_no_refs(root), *_structural_problems(root, "openAPIV3Schema")]
    assert not problems, "\n".join(problems)


def test_the_structural_check_catches_pydantic_output() -> None:
    raw = KINDS["LaunchProfile"].model_json_schema(by_alias=True)
    assert list(_no_refs(raw))
    assert list(_structural_problems(raw["$defs"]["LaunchProfileSpec"], "spec"))
