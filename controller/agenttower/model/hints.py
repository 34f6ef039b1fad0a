"""What a place in a manifest allows, read from the models: the keys of a mapping and
the values of an enum, so a validation error can say "did you mean restartPolicy?".

Errors say it in agenttower's words rather than pydantic's, and the words come from the
same models that validate, so a new field is suggested without a list kept beside it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type holds (through Optional, list, dict and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc` (list indexes and map keys skipped)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        annotation = _field(model, part)
        if annotation is None:
            continue  # a dict key (`launch: {role:label: ...}`): stay on the value's model
        models = _models_in(annotation)
        model = models[0] if models else None
    return model


def keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def did_you_mean(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    """`unknown field` with the nearest known key (or the known keys) of that mapping."""
    model = model_at(root, loc[:-1])
    if model is None:
        return "unknown field"
    return "unknown field" + did_you_mean_among(str(loc[-1]), keys_of(model))


def literal_values(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    values: list[str] = []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            values.extend(literal_values(arg))
    return values


def did_you_mean_among(word: str, known: list[str]) -> str:
    """`; did you mean X?`, else ` (known: ...)`, else nothing: to end a message with."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    return f" (known: {', '.join(known)})" if known else ""
