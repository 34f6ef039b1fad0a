"""Wall-time benchmarks: agenttower against tmuxp and the raw tmux floor.

    python benchmarks/run.py [--repeat N] [--out docs/benchmarks.md]

Every run gets a fresh sandbox: its own HOME, XDG dirs and TMUX_TMPDIR (so its own tmux
server), `TMUX` unset, and the server killed afterwards; the user's tmux is never touched.
Each case runs once with a logging `tmux` shim first on PATH to count tmux processes
(that run is not timed: the shim costs a fork per call), then N timed runs without it.
Every run is checked (agenttower panes `ready`, every tmux pane alive and running
`sleep`); a check that fails stops the script before any table is written.
Standard library plus the installed packages (agenttower, tmuxp, pyyaml) only.
The controller benchmarks (benchmarks/controller.py) run last and fill the "Controller"
section of the same file.
"""

from __future__ import annotations

import argparse
import atexit
import compileall
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import yaml

# benchmarks/controller.py does `from run import ...`: when this file is the script, let that
# import find this very module (one BenchError class, no second copy)
sys.modules.setdefault("run", sys.modules[__name__])

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the console scripts themselves, not a version-manager shim
AGENTTOWER = str(BIN / "agenttower") if (BIN / "agenttower").exists() else shutil.which("agenttower")
TMUXP = str(BIN / "tmuxp") if (BIN / "tmuxp").exists() else shutil.which("tmuxp")
REAL_TMUX = shutil.which("tmux")

API = "agenttower.dev/v1alpha1"
PANE_COMMAND = ["sh", "-c", "exec sleep 600"]
# tmuxp's `shell` is one string, which tmux hands to `$SHELL -c`; `exec` makes the pane's
# process exactly PANE_COMMAND (dash would otherwise keep a wrapper `sh` as the pane process)
PANE_SHELL = "exec " + shlex.join(PANE_COMMAND)
LABELS = {
    "1m+2s": ["master:m1", "slave:s1", "slave:s2"],
    "2m+2s": ["master:m1", "master:m2", "slave:s1", "slave:s2"],
}
SCRUBBED = (
    "TMUX",
    "TMUX_PANE",
    "AGENTTOWER_STATE_DIR",
    "AGENTTOWER_DESIRED_DIR",
    "AGENTTOWER_PROBE_DELAY",
    "TMUXP_CONFIGDIR",
    "TMUXP_PROGRESS",
    "XDG_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)


class BenchError(Exception):
    """A run that did not produce what it should have: no table may be written."""


# --------------------------------------------------------------------------- sandbox


class Sandbox:
    """One isolated world: HOME, XDG dirs, TMUX_TMPDIR, a shim dir, and its tmux server."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="atb-", dir="/tmp"))  # short: socket paths are limited
        self.home = self.root / "home"
        self.work = self.root / "work"
        self.shim_dir = self.root / "shim"
        self.tmux_log = self.root / "tmux-calls.log"
        for d in (self.home, self.work, self.shim_dir, self.root / "t"):
            d.mkdir()
        shim = self.shim_dir / "tmux"
        shim.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(self.tmux_log))}\n'
            f'exec {shlex.quote(str(REAL_TMUX))} "$@"\n'
        )
        shim.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update(
            HOME=str(self.home),
            TMUX_TMPDIR=str(self.root / "t"),
            XDG_STATE_HOME=str(self.root / "state"),
            XDG_CONFIG_HOME=str(self.root / "config"),
            XDG_DATA_HOME=str(self.root / "data"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            SHELL="/bin/sh",
            PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        self.env = env

    def run(
        self, argv: list[str], count: bool = False, extra_env: dict[str, str] | None = None
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run argv; with count=True the logging shim comes first on PATH. Returns wall seconds."""
        env = dict(self.env)
        if count:
            env["PATH"] = f"{self.shim_dir}:{env['PATH']}"
        env.update(extra_env or {})
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=self.work, capture_output=True, text=True, check=False)
        return time.perf_counter() - start, proc

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real tmux against this sandbox's server, never counted."""
        assert REAL_TMUX
        return subprocess.run(
            [REAL_TMUX, "-u", *args], env=self.env, capture_output=True, text=True, check=False, timeout=30
        )

    def calls(self) -> list[str]:
        return self.tmux_log.read_text().splitlines() if self.tmux_log.exists() else []

    def reset_calls(self) -> None:
        self.tmux_log.unlink(missing_ok=True)

    def close(self) -> None:
        self.tmux("kill-server")
        deadline = time.monotonic() + 10
        while self.tmux("has-session").returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox()
    try:
        yield sb
    finally:
        sb.close()


# --------------------------------------------------------------------------- inputs


def layout_names(count: int) -> list[str]:
    return ["team"] if count == 1 else [f"l{i:02d}" for i in range(count)]


def write_agenttower(sb: Sandbox, count: int, template: str, target: dict[str, object] | None = None) -> Path:
    """`count` layouts of `template` (one: `team`), every pane a sleeping profile; on the
    host, or on `target` (the container and ssh benchmarks' rows beside the host's)."""
    where = {"target": target} if target else {}
    docs: list[dict[str, object]] = [
        {
            "apiVersion": API,
            "kind": "Layout",
            "metadata": {"name": name},
            "spec": {"template": template, **where, "launch": dict.fromkeys(LABELS[template], "sleepy")},
        }
        for name in layout_names(count)
    ]
    docs.append(
        {
            "apiVersion": API,
            "kind": "LaunchProfile",
            "metadata": {"name": "sleepy"},
            "spec": {"command": PANE_COMMAND},
        }
    )
    path = sb.work / "layouts.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def write_tmuxp(sb: Sandbox, count: int, template: str) -> list[Path]:
    """One workspace file per session (tmuxp's format holds one session per file)."""
    files = []
    for name in layout_names(count):
        workspace = {
            "session_name": name,
            "windows": [
                {
                    "window_name": "main",
                    "layout": "tiled",
                    # `shell` makes the command the pane's process (as agenttower and raw
                    # tmux do) instead of typing it into an interactive shell
                    "panes": [{"shell": PANE_SHELL} for _ in LABELS[template]],
                }
            ],
        }
        path = sb.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(workspace, sort_keys=False))
        files.append(path)
    return files


def raw_commands(name: str, panes: int) -> list[list[str]]:
    """tmux execs a command given as several words itself, no shell in between."""
    cmd = [["new-session", "-d", "-s", name, "--", *PANE_COMMAND]]
    cmd += [["split-window", "-t", f"={name}:", "--", *PANE_COMMAND] for _ in range(panes - 1)]
    cmd.append(["select-layout", "-t", f"={name}:", "tiled"])
    return cmd


def write_raw_per_layout(sb: Sandbox, count: int, template: str) -> Path:
    """A shell script: one tmux process per layout, its commands chained with `\\;`."""
    lines = ["#!/bin/sh", "set -e"]
    for name in layout_names(count):
        chained = " \\; ".join(shlex.join(c) for c in raw_commands(name, len(LABELS[template])))
        lines.append(f"tmux {chained}")
    path = sb.work / "raw.sh"
    path.write_text("\n".join(lines) + "\n")
    return path


def tmux_word(word: str) -> str:
    """Quote one word for a tmux command file (double quotes; tmux expands `$`, `~` and `\\`)."""
    if word and all(ch.isalnum() or ch in "-_=:.+/%" for ch in word):
        return word
    escaped = "".join("\\" + ch if ch in '"\\$' else ch for ch in word)
    return f'"{escaped}"'


def write_raw_one_batch(sb: Sandbox, count: int, template: str) -> Path:
    """A shell script: one tmux process for everything, `source-file` on a command file."""
    conf = sb.work / "raw.conf"
    conf.write_text(
        "".join(
            " ".join(map(tmux_word, c)) + "\n"
            for name in layout_names(count)
            for c in raw_commands(name, len(LABELS[template]))
        )
    )
    path = sb.work / "raw-batch.sh"
    path.write_text(f"#!/bin/sh\nexec tmux start-server \\; source-file {shlex.quote(str(conf))}\n")
    return path


# --------------------------------------------------------------------------- checks


def check_ok(what: str, proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        raise BenchError(f"{what}: exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")


def check_tmux(sb: Sandbox, sessions: list[str], panes_each: int) -> None:
    """Every expected session, with exactly panes_each live panes, each running sleep."""
    fmt = "#{session_name}\t#{pane_dead}\t#{pane_current_command}"
    deadline = time.monotonic() + 15
    while True:
        out = sb.tmux("list-panes", "-a", "-F", fmt)
        rows = [line.split("\t") for line in out.stdout.splitlines()] if out.returncode == 0 else []
        per_session: dict[str, int] = {}
        for session, _, _ in rows:
            per_session[session] = per_session.get(session, 0) + 1
        shape_ok = per_session == dict.fromkeys(sessions, panes_each)
        running = all(dead == "0" and command == "sleep" for _, dead, command in rows)
        if shape_ok and running:
            return
        if not shape_ok or time.monotonic() > deadline:
            shape = f"{len(sessions)} x {panes_each}"
            raise BenchError(f"tmux does not hold {shape} live sleep panes:\n{out.stdout}{out.stderr}")
        time.sleep(0.1)  # an exec may still be in flight; not part of any timing


LIVE_FORMAT = "#{session_name}\t#{pane_dead}\t#{pane_current_command}"


def check_live_team(out: subprocess.CompletedProcess[str], panes: int, where: str) -> None:
    """A `list-panes -a -F LIVE_FORMAT` of a target (a container's, a remote host's):
    exactly `panes` panes, all of them live `sleep` in session `team`."""
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    live = [r for r in rows if r[0] == "team" and r[1] == "0" and r[2] == "sleep"]
    if len(live) != panes or len(rows) != panes:
        raise BenchError(f"{where} does not hold {panes} live sleep panes:\n{out.stdout}{out.stderr}")


def check_ready(sb: Sandbox, expected: int) -> None:
    """`agenttower get panes -o json`: exactly `expected` panes, all ready."""
    _, proc = sb.run([str(AGENTTOWER), "get", "panes", "-o", "json"])
    check_ok("agenttower get panes -o json", proc)
    items = json.loads(proc.stdout)["items"]
    states = [item["status"]["state"] for item in items]
    ready = states.count("ready")
    if ready != expected or len(states) != expected:
        raise BenchError(f"expected {expected} ready panes, got {ready} ready of {len(states)}: {states}")


def check_apply(result: str, count: int) -> Callable[[Sandbox, subprocess.CompletedProcess[str]], None]:
    def check(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> None:
        check_ok("agenttower apply", proc)
        for name in layout_names(count):
            if f"layout/{name} {result}" not in proc.stdout:
                raise BenchError(f"layout/{name} not {result}:\n{proc.stdout}{proc.stderr}")
        check_ready(sb, count * panes_of(count))
        check_tmux(sb, layout_names(count), panes_of(count))

    return check


def check_plain(count: int) -> Callable[[Sandbox, subprocess.CompletedProcess[str]], None]:
    def check(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> None:
        check_ok("load", proc)
        check_tmux(sb, layout_names(count), panes_of(count))

    return check


def check_get_panes(expected: int) -> Callable[[Sandbox, subprocess.CompletedProcess[str]], None]:
    def check(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> None:
        check_ok("agenttower get panes", proc)
        rows = [line for line in proc.stdout.splitlines() if " ready " in f" {line} "]
        if len(rows) != expected:
            raise BenchError(f"get panes listed {len(rows)} ready rows, expected {expected}:\n{proc.stdout}")

    return check


def check_help(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> None:
    check_ok("agenttower --help", proc)
    if "apply" not in proc.stdout:
        raise BenchError(f"--help does not list apply:\n{proc.stdout}")


# --------------------------------------------------------------------------- cases


def panes_of(count: int) -> int:
    return 3 if count == 1 else 4


def template_of(count: int) -> str:
    return "1m+2s" if count == 1 else "2m+2s"


Argv = Callable[[Sandbox], list[str]]
Check = Callable[[Sandbox, subprocess.CompletedProcess[str]], None]


@dataclass
class Case:
    scenario: str
    contender: str
    panes: int
    argv: Argv
    check: Check
    env: dict[str, str] = field(default_factory=dict)
    prepare: Argv | None = None  # untimed, uncounted, checked by prepare_check
    prepare_check: Check | None = None
    repeat: int | None = None  # overrides --repeat
    times: list[float] = field(default_factory=list)
    invocations: int = -1
    note: str = ""


def agenttower_apply(count: int) -> Argv:
    return lambda sb: [
        str(AGENTTOWER),
        "apply",
        "-f",
        str(write_agenttower(sb, count, template_of(count))),
        "--wait",
    ]


def agenttower_reapply(sb: Sandbox) -> list[str]:
    return [str(AGENTTOWER), "apply", "-f", str(sb.work / "layouts.yaml"), "--wait"]


def tmuxp_load(count: int) -> Argv:
    def argv(sb: Sandbox) -> list[str]:
        return [
            str(TMUXP),
            "load",
            "-d",
            "--no-progress",
            *map(str, write_tmuxp(sb, count, template_of(count))),
        ]

    return argv


def tmuxp_reload(sb: Sandbox) -> list[str]:
    return [str(TMUXP), "load", "-d", "--no-progress", *map(str, sorted(sb.work.glob("l*.yaml")))]


def raw(writer: Callable[[Sandbox, int, str], Path], count: int) -> Argv:
    return lambda sb: ["sh", str(writer(sb, count, template_of(count)))]


SCENARIOS = (("a", 1), ("b", 12), ("c", 25))  # layouts: 3, 48 and 100 panes


def before_case(scenario: str, panes: int, count: int) -> list[Case]:
    if not BEFORE_TREE:
        return []
    env = {"AGENTTOWER_PROBE_DELAY": "0s", "PYTHONPATH": BEFORE_TREE["path"]}
    contender = f"agenttower before at {BEFORE_TREE['short']} (probe 0s)"
    return [Case(scenario, contender, panes, agenttower_apply(count), check_apply("created", count), env=env)]


def cases(repeat: int) -> list[Case]:
    found: list[Case] = []
    for key, count in SCENARIOS:
        scenario = f"{key}. {count} x {template_of(count)}"
        panes = count * panes_of(count)
        found += [
            Case(
                scenario,
                "agenttower apply --wait (probe 1s, default)",
                panes,
                agenttower_apply(count),
                check_apply("created", count),
            ),
            Case(
                scenario,
                "agenttower apply --wait (probe 0s)",
                panes,
                agenttower_apply(count),
                check_apply("created", count),
                env={"AGENTTOWER_PROBE_DELAY": "0s"},
            ),
            *before_case(scenario, panes, count),
            Case(
                scenario,
                "tmuxp load -d (all files, one command)",
                panes,
                tmuxp_load(count),
                check_plain(count),
            ),
            Case(
                scenario,
                "raw tmux: one process per layout",
                panes,
                raw(write_raw_per_layout, count),
                check_plain(count),
            ),
            Case(
                scenario,
                "raw tmux: one source-file for all",
                panes,
                raw(write_raw_one_batch, count),
                check_plain(count),
            ),
        ]
    converged = "d. no-op re-apply of c"
    found += [
        Case(
            converged,
            "agenttower apply --wait",
            100,
            agenttower_reapply,
            check_apply("unchanged", 25),
            prepare=agenttower_apply(25),
            prepare_check=check_apply("created", 25),
        ),
        Case(
            converged,
            "tmuxp load -d again (session-exists check only)",
            100,
            tmuxp_reload,
            check_plain(25),
            prepare=tmuxp_load(25),
            prepare_check=check_plain(25),
        ),
        Case(
            "e. CLI",
            "agenttower get panes (100 panes present)",
            100,
            lambda sb: [str(AGENTTOWER), "get", "panes"],
            check_get_panes(100),
            prepare=agenttower_apply(25),
            prepare_check=check_apply("created", 25),
        ),
        Case(
            "e. CLI",
            "agenttower --help (start-up)",
            0,
            lambda sb: [str(AGENTTOWER), "--help"],
            check_help,
            repeat=10,
        ),
    ]
    return found


def run_once(case: Case, count: bool) -> float:
    with sandbox() as sb:
        if case.prepare is not None:
            _, proc = sb.run(case.prepare(sb))
            assert case.prepare_check
            case.prepare_check(sb, proc)
        argv = case.argv(sb)
        sb.reset_calls()
        seconds, proc = sb.run(argv, count=count, extra_env=case.env)
        calls = sb.calls()
        case.check(sb, proc)
        if count:
            case.invocations = len(calls)
        return seconds


LOADS: list[float] = []  # the 1-min load average before each case: other work on the machine


def compile_package() -> None:
    """agenttower's modules to bytecode first, as pip does when it installs a wheel: an
    editable install under PYTHONDONTWRITEBYTECODE would compile every module on every
    run (~0.1 s), which no installed agenttower pays (tmuxp's were compiled by pip)."""
    import agenttower

    compileall.compile_dir(Path(agenttower.__file__).parent, quiet=1)


BEFORE_TREE: dict[str, str] = {}  # --before: the revision, and where its package was exported


def export_tree(rev: str) -> str:
    """`controller/` of `rev` in a temporary dir, compiled like ours; a run with
    PYTHONPATH set to it runs that revision's agenttower (the same console script)."""
    short = command_output("git", "-C", str(REPO), "rev-parse", "--short", rev)
    root = Path(tempfile.mkdtemp(prefix="atb-before-", dir="/tmp"))
    atexit.register(shutil.rmtree, root, True)  # True: ignore_errors
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "controller"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    compileall.compile_dir(root / "controller" / "agenttower", quiet=1)
    BEFORE_TREE["short"] = short or rev
    return str(root / "controller")


def measure(case: Case, repeat: int) -> None:
    n = case.repeat or repeat
    LOADS.append(os.getloadavg()[0])
    run_once(case, count=True)  # counting run, also a warm-up; not timed
    for _ in range(n):
        case.times.append(run_once(case, count=False))
    print(
        f"  {case.scenario:<24} {case.contender:<48} median {statistics.median(case.times):7.3f}s"
        f"  min {min(case.times):7.3f}s  tmux x{case.invocations}",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- report


def command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


EXPLANATION = """\
All contenders end in the same tmux state: one detached session per layout, one window,
the panes tiled, each pane's process being `sh -c 'exec sleep 600'` (checked after every
run, and for agenttower every pane must also be `ready` in `agenttower get panes -o json`).
They do not do the same amount of work to get there. tmuxp reads its workspace files and
drives tmux one command per process (through libtmux), re-tiling after each split. The
raw tmux rows are the floor: a shell script that already knows what to create and checks
nothing. agenttower does more: it loads and validates the manifests, copies them into its
desired dir, takes a lock, observes tmux, plans, writes a SQLite record for every pane
before creating it, creates all panes in one `source-file` batch that also tags each pane
with its markers and starts piping its output to a log file, then waits for the launch
probe (by default 1 s, to see that each command is still alive), registers the panes and
clears the pending markers in a second batch, and appends audit events. The `probe 0s` row
shows what that work costs without the deliberate 1 s wait. The no-op re-apply is the
everyday case: everything already converged, one `list-panes` call and no writes.
"""


def render(
    all_cases: list[Case],
    repeat: int,
    out: Path,
    started: datetime,
    elapsed: float,
    controller_section: list[str] | None = None,
    controller_repeat: int = 10,
) -> str:
    rerun = f"python benchmarks/run.py --repeat {repeat} --out {out_arg(out)}"
    if BEFORE_TREE:
        rerun += f" --before {BEFORE_TREE['rev']}"
    if controller_repeat != 10:
        rerun += f" --controller-repeat {controller_repeat}"
    rev = command_output("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = command_output("git", "-C", str(REPO), "status", "--porcelain")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/run.py`; do not edit by hand. Re-run from the repository root with:",
        "",
        "```sh",
        "pip install -e '.[bench]'  # tmuxp; tmux must be on PATH",
        rerun,
        "```",
        "",
        "## What is compared",
        "",
        EXPLANATION,
        "Timings are wall-clock seconds of the whole command as a user would run it (process start,",
        "Python import, tmux server start included). Each run happens in a fresh sandbox: its own",
        "HOME, XDG dirs and `TMUX_TMPDIR` (so its own tmux server, killed afterwards), `TMUX`",
        "unset. tmux invocations are counted in one extra, untimed run per row, with a `tmux`",
        "shim first on PATH that logs each call and execs the real tmux (tmuxp runs the `tmux`",
        "binary from PATH through libtmux). The raw tmux floor is shown both ways; the faster",
        "of the two is the floor.",
        "",
        "## Machine",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')} (whole run took {elapsed:.0f} s)",
        f"- nproc: {os.cpu_count()} ({cpu_model()})",
        f"- OS: {platform.system()} {platform.release()}",
        f"- tmux: {command_output(str(REAL_TMUX), '-V')}",
        f"- Python: {platform.python_version()}",
        f"- tmuxp: {version('tmuxp')} (libtmux {version('libtmux')})",
        f"- agenttower: {version('agenttower')} at {rev}{' (with uncommitted changes)' if dirty else ''}"
        " (its modules compiled to bytecode first, as a pip install does)",
        f"- 1-min load average before each case: {load_range()} (2 cores: above ~0.5, other work"
        " shared the machine)",
        "",
        "## Results",
        "",
        "| scenario | contender | panes | median s | min s | runs | tmux invocations |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in all_cases:
        lines.append(
            f"| {case.scenario} | {case.contender} | {case.panes} | {statistics.median(case.times):.3f} "
            f"| {min(case.times):.3f} | {len(case.times)} | {case.invocations} |"
        )
    lines += ["", *notes(all_cases), ""]
    if controller_section:
        lines += controller_section
    return "\n".join(lines).rstrip("\n") + "\n"


OWN_SECTIONS = (
    "## What is compared",
    "## Machine",
    "## Results",
    "## Reading the numbers",
    "## Goals of cold apply",
    "## Controller",
)


def other_sections(path: Path) -> str:
    """The sections other scripts write into the same file (benchmarks/ssh.py's, the pane
    logs' numbers), kept as they are after this script's own: a run of this script
    rewrites only what it measured."""
    if not path.exists():
        return ""
    kept: list[str] = []
    keep = False
    for line in path.read_text().rstrip("\n").split("\n"):
        if line.startswith("## "):
            keep = line not in OWN_SECTIONS
        if keep:
            kept.append(line)
    return "\n" + "\n".join(kept).rstrip("\n") + "\n" if kept else ""


def count_range(counts: Iterable[int]) -> str:
    """A count that every run shared, else its range (`3`, `3-4`): the tables' call counts."""
    seen = sorted(set(counts))
    return str(seen[0]) if len(seen) == 1 else f"{seen[0]}-{seen[-1]}"


def load_range() -> str:
    if not LOADS:
        return "-"
    return f"{min(LOADS):.2f} to {max(LOADS):.2f} (median {statistics.median(LOADS):.2f})"


def notes(all_cases: list[Case]) -> list[str]:
    def row(scenario: str, contender: str) -> Case:
        return next(
            c for c in all_cases if c.scenario.startswith(scenario) and c.contender.startswith(contender)
        )

    found = ["## Reading the numbers", ""]
    for key, _ in SCENARIOS:
        per_layout, batch = row(key, "raw tmux: one process"), row(key, "raw tmux: one source")
        floor = min((per_layout, batch), key=lambda c: (statistics.median(c.times), min(c.times)))
        probe, no_probe = (
            row(key, "agenttower apply --wait (probe 1s"),
            row(key, "agenttower apply --wait (probe 0s"),
        )
        tmuxp = row(key, "tmuxp")
        found.append(
            f"- {floor.scenario}: floor is `{floor.contender.removeprefix('raw tmux: ')}` at "
            f"{statistics.median(floor.times):.3f} s; agenttower {statistics.median(probe.times):.3f} s "
            f"with the 1 s probe, {statistics.median(no_probe.times):.3f} s without; tmuxp "
            f"{statistics.median(tmuxp.times):.3f} s in {tmuxp.invocations} tmux processes."
        )
    noop = row("d", "agenttower")
    found.append(
        f"- d: the converged re-apply of 100 panes took {statistics.median(noop.times):.3f} s and "
        f"{noop.invocations} tmux invocation{'s' if noop.invocations != 1 else ''}."
    )
    return [*found, "", *goals(row), ""]


def goals(row: Callable[[str, str], Case]) -> list[str]:
    """The goals of cold apply, judged on this run: the `probe 0s` rows (the default 1 s
    probe is a deliberate wait, the same for any pane count)."""

    def median(case: Case) -> float:
        return statistics.median(case.times)

    startup = median(row("e", "agenttower --help"))
    floor = min(median(row("c", "raw tmux: one process")), median(row("c", "raw tmux: one source")))
    apply_100 = median(row("c", "agenttower apply --wait (probe 0s"))
    limit = 2 * floor + startup
    speedup = median(row("b", "tmuxp")) / median(row("b", "agenttower apply --wait (probe 0s"))
    speedup_default = median(row("b", "tmuxp")) / median(row("b", "agenttower apply --wait (probe 1s"))
    return [
        "## Goals of cold apply",
        "",
        "| goal | target | this run | met? |",
        "|---|---|---:|---|",
        f"| 100 panes (probe 0 s) near the floor | <= 2 x floor + CLI start-up = 2 x {floor:.3f}"
        f" + {startup:.3f} = {limit:.3f} s | {apply_100:.3f} s | {_met(apply_100 <= limit)} |",
        f"| 48 panes (probe 0 s) against tmuxp | >= 5x faster | {speedup:.1f}x | {_met(speedup >= 5)} |",
        f"| 48 panes, default 1 s probe, against tmuxp | - | {speedup_default:.1f}x | - |",
        "",
        *before_after(row),
    ]


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


# The last run before the work on apply's costs (docs/benchmarks.md at d41cbd2, measured
# 2026-12-01 10:13 UTC at f2d8e03 on this machine): seconds, medians of 5.
BEFORE = {
    "agenttower apply --wait (probe 0s)": 1.179,
    "agenttower apply --wait (probe 1s, default)": 2.362,
    "tmuxp load -d (all files, one command)": 4.719,
    "raw tmux: one source-file for all": 0.192,
    "agenttower --help (start-up)": 0.110,
}
BEFORE_REAPPLY = 0.362

WHERE_TIME_GOES = """\
### Where apply's time goes

Profiled (pyinstrument and cProfile; not by this script) on one `apply --wait` of the
100 panes with probe 0 s, in the same kind of sandbox, while other work shared the
machine (1-min load 1.3 to 2.5), so read the shares more than the seconds. Before
(d41cbd2), 1.72 s under the profiler:

- the spawn batch, waiting on tmux: 0.93 s. Replayed alone against a fresh server it
  took 0.44 s, 200 ms of it the server's own CPU; `pipe-pane` (the log) is a fork of
  the server per pane, 90 ms of that; the same lines stripped to what the floor does
  (no log pipe, no tags, no title, no guard, no launch wrapper) took 0.18 s. The launch
  wrapper also forked `id -un` in every pane;
- Python imports: 0.38 s under cProfile (its overhead included; pydantic the largest
  part), plus 0.1 s compiling agenttower's own modules on every run (an editable install
  under `PYTHONDONTWRITEBYTECODE` keeps no bytecode; this script now compiles them
  first, as a pip install does);
- YAML: the manifest parsed three times (read, validate, its pass) by PyYAML's
  pure-Python scanner and composer: 3 x 45 ms;
- SQLite: the probe's outcome written in one transaction per pane (100 commits) 75 ms,
  the records before creation 42 ms; the log files 31 ms; the settle batch 20 ms;
- fsync: 13 calls (11 `fdatasync` by SQLite in WAL mode, the desired file, the audit
  file), 2 ms in all: not a cost on this disk.

After (the commits since d41cbd2): YAML 3 to 5 ms (libyaml's C events under the same
composer and checks, one parse per text and process); the probe's outcome in one
transaction (21 to 37 ms); `apply` imports only its own verb's module (~20 ms less);
host panes take the user agenttower runs as when they own its logs dir instead of
forking `id` (the replayed batch: median 0.79 -> 0.68 s over 12 interleaved runs at
load ~2.5). What remains is tmux's own work (one fork per pane for the pane and one for
its log pipe, the tags and the per-split re-tiling) and Python's start-up with click
and pydantic (~0.2 s), which the floor does not pay. The rows of one case run one after
another, so a burst of load can fall on one revision's rows only: 15 interleaved rounds
(d41cbd2, then now, then the floor, at load ~4) gave 100 panes 1.364 -> 1.163 s median
(min 0.837 -> 0.724; faster in 12 of 15 rounds) and 48 panes 0.814 -> 0.708 s (min
0.569 -> 0.527), tmuxp 3.195 s for 48.

A converged pass over 1,000 panes (in-process, 15 passes, load ~1.2 before): 72 ms =
the `list-panes` call 32 ms + reading the records 21 ms (every row's JSON decoded
again) + parsing the listing 6 ms + planning 8.5 ms + the rest 3 ms. Now the records
are not read at all while the database is unchanged (`PRAGMA data_version` and this
connection's `total_changes`), a listing line seen before is not parsed again, and
each record is matched to its pane once per pass: ~0 + 0.4 + 8 to 12 ms of Python. The
tmux call is the floor: with 1,000 panes even `tmux display -p x` costs the server
~25 ms of CPU, so about 30 ms of the 50 ms goal is tmux's own.

Those gains were measured on the apply-speed work alone. The agent work that landed
after it (slot session ids, hook wiring, activity, readiness, crash-loop capture) adds
per-pane work to a creating pass; with all of it merged, cold apply is about level with
d41cbd2 (the table above: the two revisions' rows differ by about the run-to-run noise),
and the 100-pane goal is not met: the spawn batch is still about twice the floor's
tmux time (the log pipe's fork per pane, the tags, the launch wrapper's two execs per
pane) and imports are ~0.3 s of CPU (pydantic's model building the largest part).

The 1,000-pane no-op pass, in-process on a quiet machine (load 0.1, 35 passes):
median 79 ms, min 61 ms = the `list-panes` call 59 ms (min 42) + planning 13 ms (min 9)
+ the rest 5 ms. The log-size check that was about 4 ms of each pass (a Path per pane,
sorted) now stats the path as text, and a controller does it at most every 5 s
(`LogSettings.check_every`); the hook option is read by a dict lookup instead of a
caught ValueError per pane. What is left is mostly tmux's, and most of it is not the
listing: on a 1,000-pane server even `display-message -p x`, which lists nothing, takes
14 to 33 ms. A profile of the server (`perf record` over 100 such commands, plain panes
and no log pipes) puts 42 % of its time in poll(2) and 24 % in getdents64: tmux on
Linux runs libevent on poll (it turns epoll off), so every turn of its event loop polls
every pane's pty (and, here, every pane's log pipe too: 2,000 descriptors), and every
client it accepts counts its open descriptors by listing /proc/self/fd. One tmux call
per pass is therefore worth 15 to 45 ms at 1,000 panes on this machine before it reads
a single pane.

Would a connection that stays open avoid it? `python benchmarks/listing.py --samples
80` measures on the same 1,000 panes (agenttower's options and log pipes on them), in
turns: the pass's listing takes 34.3 ms median (min 28.9) from a new client and 29.5 ms
(min 23.9) written to one control-mode client (`tmux -C attach -f
no-output,ignore-size`); the same listing with an empty format 15.5 ms, and
`display-message -p x` 17.8 ms. A run a minute before, at load ~0.8, gave 53.9 / 42.3 /
26.9 / 39.2 ms. A control-mode client saves 5 to 12 ms of a listing's 30 to 55, and the
format work on each pane (15 to 20 ms for 18 fields of 1,000 panes) stays. It is not
built: it would keep a client attached to a session of the user's server (seen in
`list-clients` and `session_attached`, running the user's `client-attached` hooks) for
about a tenth of a pass. In the same quiet minutes an in-process pass over these panes
took 52.5 ms median (min 39.4): the listing 37.6 ms, planning 7.8 ms, the rest 7 ms.

Since then the pass is mostly its listing. The listing expands what only some panes
need only for them: a pane's exit status and signal only when it is dead, and what only
`scan` shows (window, index, pid, title) only for a pane no agenttower owns; the
session id and time of death, which nothing read, are gone. A managed pane costs 11
fields instead of 18 (in turns on the same 1,000 panes, 80 each: 30.1 -> 26.9 ms
median); `benchmarks/listing.py --samples 80` now gives the pass's listing 28.7 ms
median (min 21.4), an empty format 17.5 ms. A pass whose inputs are all as they were
at the last pass, and whose plan had no action, takes that plan again until the time
it asked to be woken at (reconcile/plan_memo.py: the planner is pure, and every rule
that waits reports its time, which a property test checks); the layouts' conditions
are not worked out again while the records, the plan and the problems are as they
were; and looking for screens to read passes over a layout with no watched launch.
Alternating processes on one 1,000-pane server, `python benchmarks/noop_pass.py --before
b34315f --rounds 6` (in-process passes, 120 of each), three runs within ten minutes at
load 0.7 to 1.2: b34315f 64.5 / 67.6 / 65.5 ms median (min 47.6 / 43.8 / 42.5), this
tree 46.1 / 46.7 / 39.3 ms (min 34.4 / 32.1 / 27.9); about 1 ms of it is Python, the
rest the listing, which moves with the machine's load from one minute to the next.

Where the spawn batch's time goes can be re-run: `python benchmarks/spawn_batch.py
--rounds 10` captures the spawn batch of one 100-pane apply and replays it into fresh
servers, as captured and with one part left out at a time, in turns with the floor's
batch. At load ~1.3 (2026-12-02, at 5b38e53): agenttower's batch 508 ms median (min
431), the floor's 222 ms (min 180), 2.3 times; without the log pipes 379 ms, without
the launch wrapper 404 ms; without the tags, the guard or the re-tiling after each
split, each within the noise (489 to 570 ms); without all of them 218 ms, the floor's.
With every check kept the batch alone is above twice the floor's, and the Python side
is above the 0.12 s start-up the goal leaves for it: under `python -X importtime` the
apply path's imports take ~0.4 s (pydantic 72 ms, building the 16 manifest models 61
ms, agenttower's other modules ~130 ms with the 140 dataclasses they define), and the
records and log files ~0.1 s more. So this design cannot meet the 100-pane goal. What
would move it is a log capture cheaper than a piped process per pane, and a clean
environment without an extra exec per pane.

What came off the Python side since: the teardown. After a verb returns, Python's last
collections walked every object still alive (~37,000 after an apply: modules, pydantic's
validators, the pass's records); `python benchmarks/teardown.py --rounds 10` (2026-12-02,
load 0.5 to 0.9) gave 72.9 ms median (min 51.7) after a 100-pane apply, and 12.7 ms (min
8.1) now that `main` freezes them first (`gc.freeze`). `apply --wait` also read each
layout's current panes three times after its last pass (75 queries for 25 layouts), now
once. A new layout's record built its resolved JSON twice (once more for its
fingerprint) and read every layout record to find a removed predecessor: once each
now, and the records before creation took 41 ms instead of 61 (medians of 7 in-process
timings of the 100-pane apply). A larger first collector threshold was tried as well
and left out: the collections during the run (~100, 17 ms) became ~30 of the same
total cost.
"""


def before_after(row: Callable[[str, str], Case]) -> list[str]:
    if BEFORE_TREE:
        return [*same_run_before_after(row), "", WHERE_TIME_GOES]
    lines = [
        "### 100 panes (25 x 2m+2s), cold: before and after",
        "",
        "Before: the run at f2d8e03 (2026-12-01 10:13 UTC, this machine, medians of 5).",
        "",
        "| contender | before s | after s |",
        "|---|---:|---:|",
    ]
    for contender, before in BEFORE.items():
        case = row("e" if "--help" in contender else "c", contender)
        lines.append(f"| {contender} | {before:.3f} | {statistics.median(case.times):.3f} |")
    again = row("d", "agenttower")
    lines.append(f"| no-op re-apply (d) | {BEFORE_REAPPLY:.3f} | {statistics.median(again.times):.3f} |")
    lines += [
        "",
        "That run compiled agenttower's modules on every run (~0.1 s, see below) and had the",
        "machine to itself; `--before REV` times the older revision in the same run instead.",
    ]
    return [*lines, "", WHERE_TIME_GOES]


def same_run_before_after(row: Callable[[str, str], Case]) -> list[str]:
    rev = BEFORE_TREE["short"]
    lines = [
        f"### Cold apply (probe 0 s): agenttower at {rev} and now, in this run",
        "",
        f"Both from the same run, each row right after the other (`--before {BEFORE_TREE['rev']}`:",
        "that revision's `controller/`, compiled the same way, run by the same console script).",
        "",
        "| scenario | panes | before median s | before min s | now median s | now min s | tmuxp / now |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, _ in SCENARIOS:
        before = row(key, f"agenttower before at {rev}")
        now = row(key, "agenttower apply --wait (probe 0s")
        tmuxp = row(key, "tmuxp")

        def med(case: Case) -> float:
            return statistics.median(case.times)

        lines.append(
            f"| {now.scenario} | {now.panes} | {med(before):.3f} | {min(before.times):.3f} | {med(now):.3f} "
            f"| {min(now.times):.3f} | {med(tmuxp) / med(now):.1f}x |"
        )
    return lines


def out_arg(out: Path) -> str:
    try:
        return str(out.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="Markdown file to write"
    )
    parser.add_argument("--only", default="", help="run only cases whose scenario or contender contains this")
    parser.add_argument(
        "--controller-repeat",
        type=int,
        default=10,
        help="saves timed by the controller benchmarks (default 10)",
    )
    parser.add_argument("--no-controller", action="store_true", help="skip the controller benchmarks")
    parser.add_argument(
        "--before",
        default="",
        metavar="REV",
        help="also time cold apply (probe 0s) of agenttower at this git revision, in the same run",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.controller_repeat < 1:
        parser.error("--repeat and --controller-repeat must be at least 1")
    missing = [
        name for name, path in (("tmux", REAL_TMUX), ("agenttower", AGENTTOWER), ("tmuxp", TMUXP)) if not path
    ]
    if missing:
        print(f"error: not found on PATH: {', '.join(missing)}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    t0 = time.monotonic()
    compile_package()
    if args.before:
        BEFORE_TREE.update(rev=args.before, path=export_tree(args.before))
    selected = [c for c in cases(args.repeat) if args.only in f"{c.scenario} {c.contender}"]
    with_controller = not args.no_controller and args.only.lower() in "controller"
    section: list[str] | None = None
    try:
        for case in selected:
            measure(case, args.repeat)
        if with_controller:
            import controller as controller_bench  # benchmarks/controller.py, next to this file

            results = controller_bench.measure(args.controller_repeat)
            rerun = f"python benchmarks/controller.py --repeat {args.controller_repeat}"
            section = controller_bench.render_section(results, f"{rerun} --out {out_arg(args.out)}")
    except BenchError as exc:
        print(f"\nBENCHMARK RUN FAILED, no table written:\n{exc}", file=sys.stderr)
        return 1
    finally:
        if BEFORE_TREE:
            shutil.rmtree(Path(BEFORE_TREE["path"]).parent, ignore_errors=True)
    if args.only:
        if section is not None:
            controller_bench.write_section(args.out, section)
            print(
                f"--only given: partial run, only the Controller section of {args.out} written",
                file=sys.stderr,
            )
        else:
            print("--only given: partial run, no table written", file=sys.stderr)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if section is None:  # --no-controller: keep the section already there
        import controller as controller_bench

        section = controller_bench.existing_section(args.out)
    text = render(
        selected, args.repeat, args.out, started, time.monotonic() - t0, section, args.controller_repeat
    )
    args.out.write_text(text + other_sections(args.out))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
