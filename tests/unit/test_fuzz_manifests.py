"""Mutated manifests through the loader and the desired-state builder, in-process.

Whatever the bytes, the only exception is an AgentTowerError with a closed-set code, a
source file and a line; its message is a few hundred characters at most, and a value
stored under a secret env key is never in it. In-process because the CLI costs ~150 ms
per run, which would make the 2,000 examples CI wants take minutes on 2 cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agenttower.model import yamlload
from agenttower.model.desired import resolve
from agenttower.model.errors import MAX_FIELD_CHARS, MAX_REASON_CHARS, AgentTowerError, ErrorCode
from agenttower.model.manifests import parse_bytes
from agenttower.model.redaction import is_secret
from agenttower.model.yamlload import decode, load_documents

FILE = "fuzz.yaml"
EXAMPLES = 2_000  # 6-8 s on a shared 2-core machine (CI=true, derandomized)
MAX_MESSAGE = len(FILE) + 12 + MAX_FIELD_CHARS + MAX_REASON_CHARS

# Planted secrets: (key, value). Long and unusual, so a hit is a leak.
SECRETS = (("API_TOKEN", "918273645"), ("DB_PASSWORD", "hunter2-zq81"))
BASE = b"""apiVersion: agenttower.dev/v1alpha1
kind: LaunchProfile
metadata:
  name: lead
spec:
  command: [agent, --model, large]
  env:
    API_TOKEN: "918273645"
    DB_PASSWORD: "hunter2-zq81"
    PLAIN: visible
---
apiVersion: agenttower.dev/v1alpha1
kind: Template
metadata: {name: duo}
spec:
  panes:
    - {role: master, capability: lead, labelPattern: "m{ordinal}", launch: lead}
    - {role: slave, capability: worker, labelPattern: "s{ordinal}"}
---
apiVersion: agenttower.dev/v1alpha1
kind: Layout
metadata:
  name: team
spec:
  template: duo
  session: team
  target: {socket: agents}
  launch: {"slave:s1": lead}
"""
# Values a mutation may replace (each occurs in BASE), and what it may put there.
TOKENS = (b"lead", b"duo", b"team", b"agents", b"m{ordinal}", b"s1", b"master", b"visible", b"large")
SNIPPETS = (
    b"[",
    b"]",
    b"{",
    b"}",
    b": ",
    b"- ",
    b"? ",
    b"\n",
    b"\n---\n",
    b"'",
    b'"',
    b"&a ",
    b"*a",
    b"!!str ",
    b"!!python/object:os.system ",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x00",
    b"\x1b",
    b"\t",
    b"#",
    b"\\",
)


def _nest(n: int, mapping: bool) -> bytes:
    return b"{a: " * n + b"1" + b"}" * n if mapping else b"[" * n + b"]" * n


VALUES = st.one_of(
    st.sampled_from([b".", b"..", b"'..'", b"...", b"012", b"on", b"~", b"12345", b"&a [*a]", b"*a"]),
    st.builds(lambda n: b"x" * n, st.integers(65, 20_000)),
    st.builds(lambda n: b"9" * n, st.integers(4_000, 6_000)),  # beyond Python's int digits
    st.builds(_nest, st.integers(1, 3_000), st.booleans()),
    st.binary(min_size=1, max_size=12),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(BASE)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        how = draw(
            st.sampled_from(("bytes", "snippet", "delete", "value", "value", "nest", "bomb", "unquote"))
        )
        if how == "bytes":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif how == "snippet":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS))
        elif how == "delete":
            del data[pos : pos + draw(st.integers(1, 24))]
        elif how == "value":
            token = draw(st.sampled_from(TOKENS))
            data = bytearray(bytes(data).replace(token, draw(VALUES), 1))
        elif how == "unquote":  # `API_TOKEN: 918273645`: a number, which an error used to print
            data = bytearray(bytes(data).replace(b'"918273645"', b"918273645"))
        elif how == "nest":
            data[pos:pos] = _nest(draw(st.integers(1, 3_000)), draw(st.booleans()))
        else:
            lines = [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, 7)]
            data[pos:pos] = ("\nb0: &b0 [x, x, x, x, x, x, x, x, x]\n" + "\n".join(lines) + "\n").encode()
    return bytes(data)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield str(value)


def _env_secrets(value: Any) -> Iterator[str]:
    """Every scalar stored under a secret key of an env map, wherever the map ended up."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "env" and isinstance(item, dict):
                for name, secret in item.items():
                    if is_secret(name):
                        yield from _leaves(secret)
            yield from _env_secrets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _env_secrets(item)


def secrets_in(data: bytes) -> set[str]:
    """What counts as a secret in this input: what a parse stores under a secret env key,
    or, when the YAML does not parse, the planted values whose line is still intact."""
    try:
        documents = load_documents(decode(data, FILE), FILE)
    except AgentTowerError:
        return {
            value
            for key, value in SECRETS
            if any(f"{key}: {v}\n".encode() in data for v in (value, f'"{value}"'))
        }
    return {s for doc in documents for s in _env_secrets(doc.data) if len(s) >= 6}


def check(data: bytes) -> str:
    """Assert the properties; what happened, for `--hypothesis-show-statistics`."""
    try:
        resolve(parse_bytes(data, FILE))
    except AgentTowerError as exc:
        assert exc.code in set(ErrorCode)
        assert exc.source is not None and exc.source.file == FILE, exc.to_wire()
        assert exc.source.line is not None and 1 <= exc.source.line <= data.count(b"\n") + 1, exc.to_wire()
        message = exc.located_message()
        assert len(message) <= MAX_MESSAGE, message[:300]
        if exc.code == ErrorCode.VALIDATION_FAILED:
            assert {"field", "reason"} <= set(exc.details)
        wire = json.dumps(exc.to_wire(), ensure_ascii=False)
        assert len(wire) <= 4 * MAX_MESSAGE, wire[:300]
        for secret in secrets_in(data):
            assert secret not in message and secret not in wire, (secret, message)
        return f"{exc.code} on {str(exc.details.get('field', ''))[:12]}"
    return "accepted"


def test_the_base_manifest_is_valid() -> None:
    assert set(resolve(parse_bytes(BASE, FILE)).layouts) == {"team"}
    assert secrets_in(BASE) == {"918273645", "hunter2-zq81"}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_fr016_mutated_manifests_fail_located_bounded_and_redacted(data: bytes) -> None:
    event(check(data))


@settings(
    max_examples=EXAMPLES // 10,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=mutated())
def test_fr016_holds_with_the_pure_python_parser_too(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """The fallback when PyYAML was built without libyaml (the default uses libyaml's events)."""
    monkeypatch.setattr(yamlload, "_Composer", yamlload._PureComposer)
    event(check(data))
