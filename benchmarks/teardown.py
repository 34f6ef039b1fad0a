"""How long Python's teardown takes after a 100-pane apply, with what the verb leaves
alive frozen (cli/main.py's `main`) and without (the same click group called directly).

    python benchmarks/teardown.py [--rounds N]

Each run is one `apply --wait` (probe 0 s) of 25 layouts of 2m+2s in a fresh sandbox,
started as `python -c` so that the moment the verb returns can be written down: the
script prints a wall-clock time as its last act, and the time from there to the
process's exit is the teardown. Both variants run in turns, round after round, and every
run must leave its 100 panes. Medians and minimums in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from run import check_ok, check_tmux, layout_names, sandbox, write_agenttower

LAYOUTS, TEMPLATE, PANES_EACH = 25, "2m+2s", 4
RETURNED = "verb returned at "
VARIANT = """
import sys, time
from agenttower.cli.main import {call}
try:
    {call}({args})
finally:
    sys.stderr.write(f"{returned}{{time.time()}}\\n")
"""
VARIANTS = {
    "frozen (main)": VARIANT.format(call="main", args="", returned=RETURNED),
    "not frozen (cli)": VARIANT.format(call="cli", args="prog_name='agenttower'", returned=RETURNED),
}


def teardown(code: str) -> float:
    with sandbox() as sb:
        manifest = write_agenttower(sb, LAYOUTS, TEMPLATE)
        argv = [sys.executable, "-c", code, "apply", "-f", str(manifest), "--wait"]
        _, proc = sb.run(argv, extra_env={"AGENTTOWER_PROBE_DELAY": "0s"})
        exited = time.time()
        check_ok("agenttower apply --wait (probe 0s)", proc)
        check_tmux(sb, layout_names(LAYOUTS), PANES_EACH)
        said = [line for line in proc.stderr.splitlines() if line.startswith(RETURNED)]
        assert said, proc.stderr
        return exited - float(said[-1].removeprefix(RETURNED))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    took: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, code in VARIANTS.items():
            took[name].append(teardown(code))
    print("| teardown after a 100-pane apply | median ms | min ms | runs |\n|---|---:|---:|---:|")
    for name, values in took.items():
        median, least = statistics.median(values) * 1000, min(values) * 1000
        print(f"| {name} | {median:.1f} | {least:.1f} | {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
