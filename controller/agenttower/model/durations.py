"""Go-style durations (`90s`, `2m`, `1h30m`, `250ms`), as kubectl users type them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError naming the accepted form."""
    text = text.strip()
    if text in ("0", ""):
        if text == "0":
            return 0.0
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 2m, 1h30m, 250ms)")
    return total


def rfc3339(now: datetime) -> str:
    """How every time is stored and shown: UTC, milliseconds, `Z`."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
