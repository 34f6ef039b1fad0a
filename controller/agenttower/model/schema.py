"""JSON Schemas and Kubernetes CRDs generated from the pydantic manifest models.

The models stay the single source of truth: editors and kubectl get the same rules the
loader enforces, and `render_all()` is both what gets written and what a test diffs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args

import yaml
from pydantic import AfterValidator, BaseModel, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from . import identifiers as ids
from .resources import API_VERSION, LaunchProfile, Layout, Template

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
UNION_FILE = "agenttower.schema.json"
REGENERATE = "agenttower schema --write crds/"
GROUP, VERSION = API_VERSION.split("/")

Schema = dict[str, Any]


@dataclass(frozen=True)
class KindInfo:
    model: type[BaseModel]
    plural: str
    short_names: tuple[str, ...]
    description: str
    printer_columns: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        return self.model.__name__

    @property
    def schema_file(self) -> str:
        return f"{self.kind.lower()}.schema.json"

    @property
    def crd_file(self) -> str:
        return f"{self.plural}.{GROUP}.yaml"


KIND_INFO: tuple[KindInfo, ...] = (
    KindInfo(
        Layout,
        "layouts",
        ("lo",),
        "A tmux session of agent panes that agenttower creates and keeps alive.",
        (("Template", ".spec.template"), ("Session", ".spec.session")),
    ),
    KindInfo(
        Template,
        "templates",
        ("tpl",),
        "A reusable list of pane roles that a Layout instantiates.",
    ),
    KindInfo(
        LaunchProfile,
        "launchprofiles",
        ("lp",),
        "The argv, environment and working directory a pane's agent is started with.",
    ),
)


# --- constraints the AfterValidators enforce, restated for JSON Schema -------------------

_CHAR_CLASS = r"\[(?:\\.|[^\]\\])+\]"
_BOUNDED_RE = re.compile(rf"(?P<head>(?:{_CHAR_CLASS})?)(?P<body>{_CHAR_CLASS})\{{(?P<lo>\d+),(?P<hi>\d+)\}}")
_NO_CONTROL = r"[^\x00-\x1f\x7f]*"


def regex_constraints(regex: re.Pattern[str]) -> Schema:
    """`pattern` (anchored: JSON Schema searches) plus lengths for a fullmatch regex.

    `[..]{m,n}` becomes `[..]*` with minLength/maxLength: Kubernetes (RE2) refuses
    repetition counts above 1000, and a length error reads better than a pattern one.
    """
    match = _BOUNDED_RE.fullmatch(regex.pattern)
    if match is None:
        return {"pattern": f"^(?:{regex.pattern})$"}
    fixed = 1 if match["head"] else 0
    return {
        "pattern": f"^{match['head']}{match['body']}*$",
        "minLength": fixed + int(match["lo"]),
        "maxLength": fixed + int(match["hi"]),
    }


def name_constraints(regex: re.Pattern[str]) -> Schema:
    """`regex_constraints` plus "not only dots" (see identifiers), said without a
    look-ahead, which RE2 lacks: `[c]*[c minus .][c]*`."""
    schema = regex_constraints(regex)
    chars = str(schema["pattern"]).removeprefix("^").removesuffix("*$")
    if not (chars.startswith("[") and chars.endswith("]") and "." in chars):
        raise ValueError(f"cannot restate 'not only dots' for {regex.pattern}")
    return {**schema, "pattern": f"^{chars}*{chars.replace('.', '')}{chars}*$"}


def _outer_validator(annotated: Any) -> Callable[..., Any]:
    """The last AfterValidator of an Annotated type: the one whose schema wraps the others."""
    validators = [m for m in get_args(annotated)[1:] if isinstance(m, AfterValidator)]
    return validators[-1].func


# Keyed by the validator function, so the constraint lands exactly where the type is used.
CONSTRAINTS: dict[Callable[..., Any], Schema] = {
    _outer_validator(ids.Name): name_constraints(ids.NAME_RE),
    _outer_validator(ids.CatalogName): name_constraints(ids.CATALOG_NAME_RE),
    _outer_validator(ids.SessionName): regex_constraints(ids.SESSION_RE),
    _outer_validator(ids.EnvKey): regex_constraints(ids.ENV_KEY_RE),
    _outer_validator(ids.TmuxLayoutName): regex_constraints(ids.TMUX_LAYOUT_RE),
    _outer_validator(ids.LabelPattern): regex_constraints(ids.LABEL_PATTERN_RE),
    _outer_validator(ids.Arg): {"pattern": r"^[^\x00]*$"},
    _outer_validator(ids.PlainText): {"pattern": f"^{_NO_CONTROL}$"},
    _outer_validator(ids.AbsolutePath): {"pattern": f"^/{_NO_CONTROL}$"},
}


# The model validators, restated. JSON Schema checks the values' types (an explicit null
# counts as unset, as in the model); a CRD junctor may only hold value validations.
@dataclass(frozen=True)
class CrossField:
    json: Schema
    crd: Schema


def _set(field: str, type_: str) -> Schema:
    return {"properties": {field: {"type": type_}}, "required": [field]}


CROSS_FIELD: dict[str, CrossField] = {
    "LayoutSpec": CrossField(
        json={"oneOf": [_set("template", "string"), _set("panes", "array")]},
        crd={"oneOf": [{"required": ["template"]}, {"required": ["panes"]}]},
    ),
    "TargetSpec": CrossField(
        json={"not": {"allOf": [_set("socket", "string"), _set("socketPath", "string")]}},
        crd={"not": {"required": ["socket", "socketPath"]}},
    ),
}


class _Generator(GenerateJsonSchema):
    """pydantic's generator plus identifier patterns, string maps and no field titles."""

    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        json_schema = dict(super().function_after_schema(schema))
        json_schema.update(CONSTRAINTS.get(schema["function"]["function"], {}))
        return json_schema

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        # pydantic turns a key pattern into patternProperties, which leaves other keys
        # unchecked; additionalProperties + propertyNames checks every key and value.
        json_schema: Schema = {"type": "object"}
        values = dict(self.generate_inner(schema["values_schema"])) if "values_schema" in schema else {}
        values.pop("title", None)
        json_schema["additionalProperties"] = values or True
        keys = dict(self.generate_inner(schema["keys_schema"])) if "keys_schema" in schema else {}
        keys = {k: v for k, v in keys.items() if k not in ("type", "title")}
        if keys:
            json_schema["propertyNames"] = keys
        return json_schema

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _pydantic_schema(target: type[BaseModel] | TypeAdapter[Any]) -> Schema:
    if isinstance(target, TypeAdapter):
        return target.json_schema(by_alias=True, mode="validation", schema_generator=_Generator)
    return target.model_json_schema(by_alias=True, mode="validation", schema_generator=_Generator)


# --- JSON Schema ------------------------------------------------------------------------


def _decorate(schema: Schema, title: str, description: str) -> Schema:
    defs: dict[str, Schema] = schema.get("$defs", {})
    for name, cross in CROSS_FIELD.items():
        if name in defs:
            defs[name] = {**defs[name], **cross.json}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$comment": f"Generated from agenttower.model.resources by `{REGENERATE}`; do not edit.",
        **schema,
        "title": title,
        "description": description,
    }


def kind_json_schema(info: KindInfo) -> Schema:
    return _decorate(
        _pydantic_schema(info.model),
        f"agenttower {info.kind} ({API_VERSION})",
        info.description,
    )


def union_json_schema() -> Schema:
    """One schema for files that mix kinds: `oneOf` the three, told apart by `kind`."""
    union = Annotated[Layout | Template | LaunchProfile, Field(discriminator="kind")]
    schema = _pydantic_schema(TypeAdapter(union))
    for info in KIND_INFO:
        schema["$defs"][info.kind]["description"] = info.description
    return _decorate(
        schema,
        f"agenttower manifest ({API_VERSION})",
        "Any agenttower manifest: " + ", ".join(info.kind for info in KIND_INFO) + ".",
    )


# --- Kubernetes CRD ---------------------------------------------------------------------

# Keywords a structural schema keeps as they are; every other keyword is translated,
# dropped on purpose below, or refused so that a new model feature cannot slip through.
_KEPT = frozenset(
    {
        "type", "description", "required", "enum", "pattern",
        "minItems", "maxItems", "minLength", "maxLength", "format", "minimum", "maximum",
    }
)  # fmt: skip
_DROPPED = frozenset({"title", "propertyNames"})  # CRD schemas have no propertyNames


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unexpected $ref {ref!r}")
    return ref[len(prefix) :]


def structural(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """A pydantic JSON Schema node as a Kubernetes structural schema node.

    `$ref`s are inlined, `anyOf [X, null]` becomes X with `nullable: true`,
    `additionalProperties: false` is dropped (Kubernetes prunes unknown fields),
    `const` becomes a one-value `enum` and null defaults are dropped.
    """
    node = dict(node)
    if "$ref" in node:
        name = _ref_name(node.pop("$ref"))
        target = dict(defs[name])
        if name in CROSS_FIELD:
            target.update(CROSS_FIELD[name].crd)
        node = {**target, **node}
    if "anyOf" in node:
        variants = node.pop("anyOf")
        others = [v for v in variants if v != {"type": "null"}]
        if len(others) != 1 or len(variants) != 2:
            raise ValueError(f"no structural equivalent for anyOf {variants!r}")
        node = {**structural(others[0], defs), **node, "nullable": True}
    out: Schema = {}
    for key, value in node.items():
        if key in _KEPT or key == "nullable":
            out[key] = value
        elif key in _DROPPED:
            continue
        elif key == "const":
            out["enum"] = [value]
        elif key == "default":
            if value is not None:
                out[key] = value
        elif key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = structural(value, defs)
            elif value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif any(cross.crd.get(key) == value for cross in CROSS_FIELD.values()):
            out[key] = value  # a CROSS_FIELD.crd junctor, already structural
        else:
            raise ValueError(f"no structural equivalent for {key!r}: {value!r}")
    return out


def crd_schema(info: KindInfo) -> Schema:
    schema = _pydantic_schema(info.model)
    defs: dict[str, Schema] = schema.get("$defs", {})
    properties = schema["properties"]
    # Kubernetes lets a CRD restrict metadata.name and nothing else of metadata.
    name = structural(properties["metadata"], defs)["properties"]["name"]
    return {
        "type": "object",
        "description": info.description,
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "Versioned schema of this object: " + API_VERSION + ".",
            },
            "kind": {"type": "string", "description": f"Always {info.kind}."},
            "metadata": {"type": "object", "properties": {"name": name}},
            "spec": structural(properties["spec"], defs),
        },
        "required": ["spec"],
    }


def crd(info: KindInfo) -> Schema:
    version: Schema = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": crd_schema(info)},
    }
    if info.printer_columns:
        version["additionalPrinterColumns"] = [
            {"name": title, "type": "string", "jsonPath": path} for title, path in info.printer_columns
        ] + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.kind.lower(),
                "shortNames": list(info.short_names),
                "categories": ["agenttower"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


# --- files ------------------------------------------------------------------------------


def dump_json(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def dump_yaml(document: Schema) -> str:
    header = f"# Generated from agenttower.model.resources by `{REGENERATE}`; do not edit.\n"
    body = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=1000)
    return header + body


def render_all() -> dict[str, str]:
    """Every file of crds/, name -> exact text, in a stable order."""
    files: dict[str, str] = {UNION_FILE: dump_json(union_json_schema())}
    for info in KIND_INFO:
        files[info.schema_file] = dump_json(kind_json_schema(info))
        files[info.crd_file] = dump_yaml(crd(info))
    return dict(sorted(files.items()))


# --- explain ------------------------------------------------------------------------------


def explain(path: str) -> Schema:
    """`Layout.spec.target` -> that field's type, values, description and sub-fields,
    read from the structural schema the CRDs are made of (list items are walked into)."""
    from .errors import validation_failed
    from .hints import did_you_mean_among

    head, *parts = path.split(".")
    info = next(
        (i for i in KIND_INFO if head.lower() in (i.kind.lower(), i.plural, *i.short_names)),
        None,
    )
    if info is None:
        known = ", ".join(i.kind for i in KIND_INFO)
        raise validation_failed("path", f"unknown kind {head!r} (known: {known})")
    node = crd_schema(info)
    walked = [info.kind]
    for part in parts:
        while node.get("type") == "array":
            node = node["items"]
        properties = node.get("properties", {})
        if part not in properties:
            where = ".".join(walked)
            raise validation_failed(
                "path", f"{where} has no field {part!r}{did_you_mean_among(part, list(properties))}"
            )
        node = properties[part]
        walked.append(part)
    shown = _items(node)
    required = set(shown.get("required", ()))
    return {
        "kind": info.kind,
        "path": ".".join(walked),
        "type": _type_name(node),
        "description": node.get("description") or shown.get("description"),
        "enum": node.get("enum"),
        "default": node.get("default"),
        "fields": [
            {
                "name": name,
                "type": _type_name(sub),
                "required": name in required,
                "description": sub.get("description") or _items(sub).get("description"),
            }
            for name, sub in shown.get("properties", {}).items()
        ],
    }


def _items(node: Schema) -> Schema:
    """What a list holds (a list of lists: the innermost), else the node itself."""
    while node.get("type") == "array":
        node = node["items"]
    return node


def _type_name(node: Schema) -> str:
    if node.get("type") == "array":
        return f"[]{_type_name(node['items'])}"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type_name(node['additionalProperties'])}"
    return str(node.get("type", "object"))
