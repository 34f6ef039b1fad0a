"""Secret redaction: env values whose key holds TOKEN, SECRET, KEY or PASSWORD (any case).

Applied wherever an env map leaves the process (events, records, `get`, `describe`);
argv and the working dir are shown as they are, as FEAT-013 specifies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_SECRET_KEY = re.compile(r"TOKEN|SECRET|KEY|PASSWORD", re.IGNORECASE)


def is_secret(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if is_secret(k) else v) for k, v in env.items()}


def redact(payload: Any) -> Any:
    """Redact every env map (a mapping under a key named `env`) anywhere in `payload`."""
    if isinstance(payload, Mapping):
        return {
            k: (redact_env(v) if k == "env" and isinstance(v, Mapping) else redact(v))
            for k, v in payload.items()
        }
    if isinstance(payload, list | tuple):
        return [redact(item) for item in payload]
    return payload
