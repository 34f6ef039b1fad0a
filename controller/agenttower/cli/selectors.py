"""kubectl label selectors (`-l tier=agents,env!=prod,owner,!scratch`) over Layouts'
metadata.labels: a comma is AND; `k=v`/`k==v`, `k!=v`, `k` (set) and `!k` (not set)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from agenttower.model.errors import validation_failed

# a label is any string map (metadata.labels), so a key or value is anything but the
# selector's own punctuation: `=`, `!`, `,` and blanks
_TERM = re.compile(r"^\s*(?P<neg>!)?\s*(?P<key>[^=!,\s]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[^=!,\s]*))?\s*$")

Selector = Callable[[Mapping[str, str]], bool]


def parse(text: str) -> Selector:
    terms: list[Selector] = []
    for raw in text.split(","):
        match = _TERM.match(raw)
        if match is None or (match["neg"] and match["op"]):
            raise validation_failed(
                "--selector", f"cannot read {raw.strip()!r} (key=value, key!=value, key, !key)"
            )
        terms.append(_term(match["key"], match["op"], match["value"], bool(match["neg"])))
    return lambda labels: all(term(labels) for term in terms)


def _term(key: str, op: str | None, value: str | None, negated: bool) -> Selector:
    if op is None:
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value
