"""What readable logs cost: rendering a log to text, and a pass's rotation check.

    python benchmarks/pane_logs.py [--megabytes N] [--panes N]

Rendering: N MiB of line output with colour codes, and of a full-screen program
redrawing a counter in place, through `logs`' renderer (MiB per second). Rotation: the
check a pass makes of N logs under their cap, and one rotation of a log just past the
default cap (milliseconds). It runs no tmux: files in a temporary dir only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agenttower.cli.log_render import render
from agenttower.model.log_header import RunHeader
from agenttower.reconcile.log_rotation import rotate_all
from agenttower.settings import LogSettings

MIB = 1024 * 1024


def header(columns: int = 120, rows: int = 40) -> bytes:
    return (
        b"\n"
        + RunHeader("pane_bench", "2026-01-01T00:00:00Z", ("agent",), columns, rows).line().encode()
        + b"\n"
    )


def lines_log(size: int) -> bytes:
    line = b"\x1b[32mok\x1b[0m step %d of the build wrote some words of output\r\n"
    out, i = bytearray(header()), 0
    while len(out) < size:
        out += line % i
        i += 1
    return bytes(out)


def full_screen_log(size: int) -> bytes:
    frame = b"\x1b[H\x1b[2J\x1b[1;1HDashboard\x1b[5;10Hcounter %d\x1b[10;1Hstatus: working"
    out, i = bytearray(header() + b"\x1b[?1049h"), 0
    while len(out) < size:
        out += frame % i
        i += 1
    return bytes(out + b"\x1b[?1049l")


def rate(data: bytes) -> float:
    started = time.perf_counter()
    for _ in render(data):
        pass
    return len(data) / MIB / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--panes", type=int, default=160)
    args = parser.parse_args()
    size = int(args.megabytes * MIB)
    print(f"render, line output: {rate(lines_log(size)):.2f} MiB/s")
    print(f"render, full-screen redraws: {rate(full_screen_log(size)):.2f} MiB/s")
    limits = LogSettings()
    with tempfile.TemporaryDirectory() as root:
        paths = [Path(root) / f"p{i}.log" for i in range(args.panes)]
        for path in paths:
            path.write_bytes(header() + b"x" * 4096)
        started = time.perf_counter()
        assert rotate_all(paths, limits) == []
        checked = (time.perf_counter() - started) * 1000
        print(f"rotation check of {args.panes} logs under the cap: {checked:.2f} ms")
        big = Path(root) / "big.log"
        big.write_bytes(header() + b"y" * (limits.max_bytes + MIB))
        started = time.perf_counter()
        assert len(rotate_all([big], limits)) == 1
        rotated = (time.perf_counter() - started) * 1000
        print(f"one rotation of a {limits.max_bytes // MIB + 1} MiB log: {rotated:.1f} ms")


if __name__ == "__main__":
    main()
