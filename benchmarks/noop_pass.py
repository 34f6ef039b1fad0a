"""A converged pass over 1,000 panes, in-process, at this tree and at an earlier revision in
turns, on one server.

    python benchmarks/noop_pass.py --before REV [--rounds N] [--passes M]

40 layouts of 25 panes are applied by agenttower into a fresh sandbox (as in the
controller benchmark). Then, N rounds: each revision's `controller/` (REV exported as
`run.py --before` does) runs a process that takes the reconciler lock and runs M passes
of the desired dir, one after another, as a controller's resync would; the first 5 of
each process warm its caches and are left out. Alternating processes on the same server
keeps a burst of load from falling on one revision only, which separate benchmark runs
on this 2-core machine cannot. Medians and minimums of the passes' own time (the tmux
listing included), in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from controller import write_big
from run import AGENTTOWER, REPO, check_ok, check_ready, export_tree, sandbox

WARM = 5
PASSES = """
import json, sys, time
from agenttower.model.lifecycle import Actor
from agenttower.paths import Paths
from agenttower.reconcile import desired_dir, engine, reconciler
from agenttower.settings import Settings

paths, settings, cache = Paths.resolve(), Settings.from_env(), desired_dir.DirCache()
took = []
with engine.session(paths, settings, Actor.CONTROLLER) as session:
    for _ in range(int(sys.argv[1])):
        desired, problems = desired_dir.load_lenient(paths.desired_dir, engine.legacy_catalog(paths), cache)
        started = time.perf_counter()
        request = reconciler.Request(reconciler.Op.PASS, desired=desired, problems=tuple(problems))
        result = reconciler.reconcile(session, request)
        took.append((time.perf_counter() - started) * 1000)
        assert result.passed is not None and not result.passed.plan.actions, result.passed
print(json.dumps(took))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--before", required=True, help="the earlier git revision")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--passes", type=int, default=25, help=f"per process (the first {WARM} not counted)")
    args = parser.parse_args(argv)
    trees = {args.before: export_tree(args.before), "this tree": str(REPO / "controller")}
    took: dict[str, list[float]] = {name: [] for name in trees}
    with sandbox() as sb:
        _, proc = sb.run([str(AGENTTOWER), "apply", "-f", str(write_big(sb)), "--wait", "--timeout", "10m"])
        check_ok("agenttower apply -f big.yaml --wait", proc)
        check_ready(sb, 1000)
        for _ in range(args.rounds):
            for name, tree in trees.items():
                env = {**sb.env, "PYTHONPATH": tree}
                argv_ = [sys.executable, "-c", PASSES, str(args.passes)]
                out = subprocess.run(argv_, env=env, capture_output=True, text=True)
                check_ok(f"passes at {name}", out)
                took[name] += json.loads(out.stdout.splitlines()[-1])[WARM:]
    print("| 1,000 panes, a converged pass | median | min | passes |\n|---|---:|---:|---:|")
    for name, values in took.items():
        print(f"| {name} | {statistics.median(values):.1f} ms | {min(values):.1f} ms | {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
