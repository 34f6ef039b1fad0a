"""What one observation of a 1,000-pane server costs, and whether a control-mode client
would make it cheaper.

    python benchmarks/listing.py [--samples N]

40 layouts of 25 panes are applied by agenttower into a fresh sandbox (so the panes carry
agenttower's options and log pipes, as in the controller benchmark). Then, in turns, N
times each: the pass's own listing (`tmux list-panes -a -F FORMAT`, a new client per
call, as agenttower runs it); the same command written to one control-mode client that
stays attached (`tmux -C attach -f no-output,ignore-size`), read up to its `%end`; the
same listing with an empty format (what the server pays per pane before any field);
and `display-message -p x` (a new client that lists nothing). Medians and minimums in
milliseconds, printed as a markdown table.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable

from agenttower.runtime.observe import FORMAT
from controller import write_big
from run import AGENTTOWER, REAL_TMUX, Sandbox, check_ok, check_ready, sandbox

LISTING = ("list-panes", "-a", "-F", FORMAT)


class ControlClient:
    """One `tmux -C` client attached to a session, sent a command and read to its end."""

    def __init__(self, sb: Sandbox, session: str) -> None:
        argv = [str(REAL_TMUX), "-u", "-C", "attach", "-f", "no-output,ignore-size", "-t", f"={session}"]
        self.proc = subprocess.Popen(argv, env=sb.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.command("display-message -p ready")  # the attach's own block comes first

    def command(self, line: str) -> list[bytes]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        while True:
            block = self._block()
            if not line.startswith("display-message") or b"ready\n" in block:
                return block

    def _block(self) -> list[bytes]:
        assert self.proc.stdout
        out: list[bytes] = []
        while True:
            got = self.proc.stdout.readline()
            if not got:
                raise RuntimeError("the control client went away")
            if got.startswith(b"%begin"):
                out = []
            elif got.startswith((b"%end", b"%error")):
                return out
            elif not got.startswith(b"%"):
                out.append(got)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def interleaved(rows: dict[str, Callable[[], int]], samples: int, panes: int) -> dict[str, list[float]]:
    """Each row once per round, in turns, so a burst of load falls on all of them alike."""
    millis: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(samples):
        for name, call in rows.items():
            start = time.perf_counter()
            lines = call()
            millis[name].append((time.perf_counter() - start) * 1000)
            if lines != panes:
                raise RuntimeError(f"{name}: listed {lines} panes, wanted {panes}")
    return millis


def lines(proc: subprocess.CompletedProcess[str]) -> int:
    return len(proc.stdout.splitlines())


def measure(samples: int) -> dict[str, list[float]]:
    with sandbox() as sb:
        path = write_big(sb)
        _, proc = sb.run([str(AGENTTOWER), "apply", "-f", str(path), "--wait", "--timeout", "10m"])
        check_ok("agenttower apply -f big.yaml --wait", proc)
        total = lines(sb.tmux("list-panes", "-a"))
        check_ready(sb, total)
        session = sb.tmux("list-sessions", "-F", "#{session_name}").stdout.split()[0]
        client = ControlClient(sb, session)
        rows: dict[str, Callable[[], int]] = {
            "spawned client: the pass's listing": lambda: lines(sb.tmux(*LISTING)),
            "control-mode client: the same listing": lambda: len(client.command(shlex.join(LISTING))),
            "spawned client: an empty format": lambda: lines(sb.tmux("list-panes", "-a", "-F", "x")),
            "spawned client: display-message -p x": lambda: total * lines(sb.tmux("display", "-p", "x")),
        }
        try:
            return interleaved(rows, samples, total)
        finally:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    results = measure(args.samples)
    print("| 1,000 panes: one command | median | min |")
    print("|---|---:|---:|")
    for name, millis in results.items():
        print(f"| {name} | {statistics.median(millis):.1f} ms | {min(millis):.1f} ms |")


if __name__ == "__main__":
    main()
