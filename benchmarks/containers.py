"""Container benchmarks: a 2m+2s layout converged inside a docker container.

    python benchmarks/containers.py [--repeat N] [--image agenttower-bench:test]

Every run gets a fresh sandbox from run.py (own HOME, XDG dirs and TMUX_TMPDIR, `TMUX`
unset) and a fresh throw-away container from the bench image (deploy/bench-image/,
`.ci/docker-setup.sh` builds it), with a bind mount for the pane logs, removed
afterwards; the user's tmux and containers are never touched. agenttower runs with
AGENTTOWER_DOCKER pointing at a `sh` wrapper that appends each call's start and end
(`date +%s.%N`) and argv to a file, so every run yields:

- wall: the whole `agenttower apply -f FILE --wait`, process start to exit;
- spawned: process start to the end of the last `source-file` exec before the probe's
  listing, i.e. every pane exists in tmux (the wrapper's own `date` calls err late);
- execs: every docker call agenttower made, split into the observe listing, spawn
  batches, the probe listing and the settle batch.

Each run is checked (4 panes `ready` in `agenttower get panes -o json`, 4 live panes in
the container's tmux); a failed check stops the script before any table is printed.
The floor rows time `docker exec CONTAINER true` directly and through the wrapper, so
the wrapper's cost per call is visible. Prints a Markdown table; no file is written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from run import (
    AGENTTOWER,
    LABELS,
    LIVE_FORMAT,
    PANE_COMMAND,
    BenchError,
    Sandbox,
    check_live_team,
    check_ok,
    check_ready,
    command_output,
    count_range,
    cpu_model,
    sandbox,
    write_agenttower,
)

DOCKER = shutil.which("docker")
LOGS_IN_CONTAINER = "/agenttower-logs"
TEMPLATE = "2m+2s"
FLOOR_CALLS = 20


# --------------------------------------------------------------------------- container


@dataclass
class Box:
    name: str
    logs: Path

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert DOCKER
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False, timeout=60)


@contextmanager
def container(sb: Sandbox, image: str) -> Iterator[Box]:
    box = Box(f"atb-{uuid.uuid4().hex[:10]}", sb.root / "box-logs")
    box.logs.mkdir()
    started = box.docker("run", "-d", "--name", box.name, "-v", f"{box.logs}:{LOGS_IN_CONTAINER}", image)
    check_ok(f"docker run {image}", started)
    try:
        yield box
    finally:
        box.docker("rm", "-f", box.name)


def wrapper(sb: Sandbox) -> tuple[Path, Path]:
    """The timestamping docker wrapper and its log."""
    assert DOCKER
    log = sb.root / "docker-calls.log"
    path = sb.root / "docker-wrapper"
    path.write_text(
        "#!/bin/sh\n"
        f'printf "S %s %s %s\\n" "$$" "$(date +%s.%N)" "$*" >> {shlex.quote(str(log))}\n'
        f'{shlex.quote(DOCKER)} "$@"\n'
        "rc=$?\n"
        f'printf "E %s %s\\n" "$$" "$(date +%s.%N)" >> {shlex.quote(str(log))}\n'
        'exit "$rc"\n'
    )
    path.chmod(0o755)
    return path, log


@dataclass
class Call:
    args: str
    start: float
    end: float

    @property
    def kind(self) -> str:
        return "batch" if "source-file" in self.args else "listing" if "list-panes" in self.args else "other"


def read_calls(log: Path) -> list[Call]:
    starts: dict[str, tuple[float, str]] = {}
    calls: list[Call] = []
    for line in log.read_text().splitlines() if log.exists() else []:
        kind, pid, stamp, *rest = line.split(" ", 3)
        if kind == "S":
            starts[pid] = (float(stamp), rest[0] if rest else "")
        elif pid in starts:
            begun, args = starts.pop(pid)
            calls.append(Call(args, begun, float(stamp)))
    return sorted(calls, key=lambda c: c.start)


def write_layout(sb: Sandbox, box: Box) -> Path:
    mount = {"containerPath": LOGS_IN_CONTAINER, "hostPath": str(box.logs)}
    return write_agenttower(sb, 1, TEMPLATE, {"container": box.name, "logMount": mount})


def check_container(box: Box, panes: int) -> None:
    out = box.docker(
        "exec", box.name, "tmux", "-u", "list-panes", "-a", "-F", LIVE_FORMAT
    )  # -u: no locale inside
    check_live_team(out, panes, f"container {box.name}")


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    wall: float
    spawned: float  # process start -> last spawn batch done
    spawned_in: float  # first docker call -> last spawn batch done (no Python start-up)
    calls: list[Call]

    def split(self) -> dict[str, int]:
        kinds = [c.kind for c in self.calls]
        first_batch = kinds.index("batch") if "batch" in kinds else len(kinds)
        probe = next((i for i in range(first_batch, len(kinds)) if kinds[i] == "listing"), len(kinds))
        return {
            "observe": kinds[:first_batch].count("listing"),
            "spawn": kinds[first_batch:probe].count("batch"),
            "probe": 1 if probe < len(kinds) else 0,
            "settle": kinds[probe + 1 :].count("batch"),
            "other": len(kinds) - kinds.count("batch") - kinds.count("listing"),
        }


@dataclass
class Case:
    name: str
    env: dict[str, str]
    noop: bool = False
    runs: list[Run] = field(default_factory=list)


def run_once(case: Case, image: str) -> Run:
    with sandbox() as sb, container(sb, image) as box:
        docker, log = wrapper(sb)
        path = write_layout(sb, box)
        argv = [str(AGENTTOWER), "apply", "-f", str(path), "--wait"]
        env = {"AGENTTOWER_DOCKER": str(docker), **case.env}
        if case.noop:
            _, proc = sb.run(argv, extra_env=env)
            check_ok("agenttower apply (prepare)", proc)
            log.unlink(missing_ok=True)
        began = time.time()
        seconds, proc = sb.run(argv, extra_env=env)
        check_ok("agenttower apply", proc)
        expected = "unchanged" if case.noop else "created"
        if f"layout/team {expected}" not in proc.stdout:
            raise BenchError(f"layout/team not {expected}:\n{proc.stdout}{proc.stderr}")
        check_ready(sb, len(LABELS[TEMPLATE]))
        check_container(box, len(LABELS[TEMPLATE]))
        calls = read_calls(log)
        if not calls:
            raise BenchError("the docker wrapper saw no call")
        kinds = [c.kind for c in calls]
        probe = next((i for i, k in enumerate(kinds) if k == "listing" and "batch" in kinds[:i]), None)
        batches = [c for c in calls[: probe if probe is not None else len(calls)] if c.kind == "batch"]
        done = batches[-1].end if batches else calls[0].end
        return Run(seconds, done - began, done - calls[0].start, calls)


def floor(image: str) -> tuple[list[float], list[float]]:
    """`docker exec CONTAINER true`, direct and through the wrapper."""
    with sandbox() as sb, container(sb, image) as box:
        docker, _ = wrapper(sb)
        times: tuple[list[float], list[float]] = ([], [])
        for binary, into in ((str(DOCKER), times[0]), (str(docker), times[1])):
            for _ in range(FLOOR_CALLS):
                seconds, proc = sb.run([binary, "exec", "-i", box.name, "true"])
                check_ok("docker exec true", proc)
                into.append(seconds)
        return times


def cases() -> list[Case]:
    return [
        Case("apply --wait (probe 1s, default)", {}),
        Case("apply --wait (probe 0s)", {"AGENTTOWER_PROBE_DELAY": "0s"}),
        Case("no-op re-apply --wait", {}, noop=True),
    ]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def render(all_cases: list[Case], direct: list[float], wrapped: list[float], image: str, repeat: int) -> str:
    lines = [
        "## Containers",
        "",
        f"`python benchmarks/containers.py --repeat {repeat}`: a {TEMPLATE} layout (4 panes running "
        f"`{shlex.join(PANE_COMMAND)}`) in a fresh container of `{image}` per run, logs on a bind mount.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; nproc {os.cpu_count()} ({cpu_model()})",
        f"- docker: client {command_output(str(DOCKER), 'version', '--format', '{{.Client.Version}}')}, "
        f"server {command_output(str(DOCKER), 'version', '--format', '{{.Server.Version}}')}",
        f"- `docker exec -i C true`: median {ms(statistics.median(direct))} ms direct, "
        f"{ms(statistics.median(wrapped))} ms through the timestamping wrapper ({FLOOR_CALLS} calls each)",
        "",
        "| case | runs | wall median ms | wall min ms | spawned median ms | spawned (no start-up) ms "
        "| docker execs | observe + spawn + probe + settle |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in all_cases:
        walls = [r.wall for r in case.runs]
        split = case.runs[0].split()
        spawned = "-" if case.noop else ms(statistics.median(r.spawned for r in case.runs))
        inner = "-" if case.noop else ms(statistics.median(r.spawned_in for r in case.runs))
        count = count_range(len(r.calls) for r in case.runs)
        parts = " + ".join(str(split[k]) for k in ("observe", "spawn", "probe", "settle"))
        other = f" (+{split['other']} other)" if split["other"] else ""
        lines.append(
            f"| {case.name} | {len(case.runs)} | {ms(statistics.median(walls))} | {ms(min(walls))} "
            f"| {spawned} | {inner} | {count} | {parts}{other} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--image", default=os.environ.get("AGENTTOWER_BENCH_IMAGE", "agenttower-bench:test"))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not DOCKER or not AGENTTOWER:
        print("error: docker or agenttower not found on PATH", file=sys.stderr)
        return 2
    probe = subprocess.run([DOCKER, "image", "inspect", args.image], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"error: image {args.image} missing (run .ci/docker-setup.sh)", file=sys.stderr)
        return 2
    selected = cases()
    try:
        direct, wrapped = floor(args.image)
        for case in selected:
            run_once(case, args.image)  # warm-up, not kept
            for _ in range(args.repeat):
                case.runs.append(run_once(case, args.image))
            print(
                f"  {case.name:<36} wall {statistics.median(r.wall for r in case.runs):.3f}s"
                f"  spawned {statistics.median(r.spawned for r in case.runs):.3f}s"
                f"  execs {[len(r.calls) for r in case.runs]}",
                file=sys.stderr,
                flush=True,
            )
    except BenchError as exc:
        print(f"\nBENCHMARK RUN FAILED, no table printed:\n{exc}", file=sys.stderr)
        return 1
    print(render(selected, direct, wrapped, args.image, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
