"""What agenttower's spawn batch costs tmux, part by part, against the floor's batch.

    python benchmarks/spawn_batch.py [--rounds N]

One `agenttower apply --wait` (probe 0 s) of the 100-pane case (25 layouts of 2m+2s)
runs in a sandbox whose `tmux` shim keeps a copy of every `source-file -` it is given;
the first one that creates sessions is the spawn batch, every pane's line as agenttower
wrote it. That text is then replayed with `tmux source-file` against a fresh server
(its own socket, no config), as captured and with one part taken out at a time: the
log pipes, the launch wrapper, the tags (pane options and title), the guard and the
re-tiling after each split, and all of them; the floor's own batch (run.py's) is
replayed the same way. Every replay must leave the 100 panes; the variants run in turns,
round after round, so a burst of load does not fall on one of them only. Each variant
must change the text, so a change in the batch's format stops the script instead of
measuring nothing. Medians and minimums of the `source-file` call, in milliseconds.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from run import (
    AGENTTOWER,
    PANE_COMMAND,
    REAL_TMUX,
    Sandbox,
    check_ok,
    layout_names,
    raw_commands,
    sandbox,
    tmux_word,
    write_agenttower,
)

LAYOUTS, TEMPLATE, PANES = 25, "2m+2s", 100
WORD = r"'(?:[^']|'\\'')*'"  # one word as runtime/quoting.py quotes it ('\'' for a quote)
USER_COMMAND = " ".join(f"'{word}'" for word in PANE_COMMAND)  # what the wrapper starts

Edit = Callable[[str], str]


def _sub(pattern: str, replacement: str) -> Edit:
    compiled = re.compile(pattern)
    return lambda text: compiled.sub(replacement, text)


def _tiled_once(text: str) -> str:
    """The re-tiling after each split left out; each session tiled once at the end, as the
    floor does."""
    text = text.replace(" ; select-layout 'tiled'", "")
    return text + "".join(f"select-layout -t ={name}: tiled\n" for name in layout_names(LAYOUTS))


PARTS: dict[str, Edit] = {
    "the log pipes": _sub(rf" ; pipe-pane(?: {WORD})+", ""),
    "the launch wrapper": _sub(rf"'sh' '-c' 'd=\$1 .*?(?={re.escape(USER_COMMAND)})", ""),
    "the tags (pane options, title)": _sub(r" ; (?:set-option '-p'|select-pane)(?: '[^' ;]*')+", ""),
    "the guard": _sub(r"if-shell -F -t '=[^']*' '[^']*' \{ (.*) \}", r"\1"),
    "the re-tiling after each split": _tiled_once,
}


def capture(sb: Sandbox) -> str:
    """The spawn batch of one cold apply, as the tmux server received it."""
    kept = sb.root / "batches"
    kept.mkdir()
    shim = sb.shim_dir / "tmux"
    shim.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"source-file -"*)\n'
        f"  f={shlex.quote(str(kept))}/$(date +%s%N)\n"
        f'  tee "$f" | {shlex.quote(str(REAL_TMUX))} "$@"; exit $?;;\n'
        "esac\n"
        f'exec {shlex.quote(str(REAL_TMUX))} "$@"\n'
    )
    argv = [str(AGENTTOWER), "apply", "-f", str(write_agenttower(sb, LAYOUTS, TEMPLATE)), "--wait"]
    _, proc = sb.run(argv, count=True, extra_env={"AGENTTOWER_PROBE_DELAY": "0s"})
    check_ok("agenttower apply --wait (probe 0s)", proc)
    batches = [path.read_text() for path in sorted(kept.iterdir())]
    spawn = next(text for text in batches if text.startswith("new-session"))
    assert spawn.count("pipe-pane") == PANES, "every pane's line should start its log pipe"
    return spawn


def variants(spawn: str) -> dict[str, str]:
    floor = "".join(
        " ".join(map(tmux_word, command)) + "\n"
        for name in layout_names(LAYOUTS)
        for command in raw_commands(name, PANES // LAYOUTS)
    )
    texts = {"agenttower's spawn batch": spawn}
    for part, edit in PARTS.items():
        texts[f"  without {part}"] = edit(spawn)
    stripped = spawn
    for edit in PARTS.values():
        stripped = edit(stripped)
    texts["  without all of these"] = stripped
    texts["the floor's batch (run.py)"] = floor
    unchanged = [name for name, text in texts.items() if name != "agenttower's spawn batch" and text == spawn]
    assert not unchanged, f"the batch's format changed; these edits matched nothing: {unchanged}"
    return texts


def replay(sb: Sandbox, text: str, turn: int) -> float:
    """One `source-file` of `text` into a fresh server (a socket of its own: the last one
    may still be exiting); the panes it leaves are checked."""
    batch, socket = sb.root / "replay.conf", str(sb.root / f"replay-{turn}.sock")
    batch.write_text(text)
    tmux = [str(REAL_TMUX), "-S", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "replay"], env=sb.env, check=True)
    started = time.perf_counter()
    proc = subprocess.run([*tmux, "source-file", str(batch)], env=sb.env, capture_output=True, text=True)
    took = time.perf_counter() - started
    listing = [*tmux, "list-panes", "-a", "-F", "#{pid} #{session_name}"]  # pid: the server's
    listed = subprocess.run(listing, env=sb.env, capture_output=True)
    subprocess.run([*tmux, "kill-server"], env=sb.env, capture_output=True)
    lines = [line.split() for line in listed.stdout.decode().splitlines()]
    assert proc.returncode == 0 and len([n for _, n in lines if n != "replay"]) == PANES, (proc.stderr, lines)
    _gone(int(lines[0][0]))  # its teardown (100 panes hung up) must not fall on the next replay
    return took


def _gone(pid: int) -> None:
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"the replay's tmux server {pid} did not exit"
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with sandbox() as sb:
        texts = variants(capture(sb))
        sb.tmux("kill-server")  # the apply's own server: only the replays' from here on
        took: dict[str, list[float]] = {name: [] for name in texts}
        for turn in range(args.rounds):
            for index, (name, text) in enumerate(texts.items()):
                took[name].append(replay(sb, text, turn * len(texts) + index))
    print(f"| replayed `source-file`, {PANES} panes | median ms | min ms | runs |\n|---|---:|---:|---:|")
    for name, values in took.items():
        label = name.replace("  ", "&nbsp;&nbsp;", 1) if name.startswith("  ") else name
        median, least = statistics.median(values) * 1000, min(values) * 1000
        print(f"| {label} | {median:.0f} | {least:.0f} | {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
