"""What must hold after any fault, whatever instant it hit: the fault suite's checker.

`violations(...)` looks at a state dir's SQLite store, its audit file, the tmux
servers of its targets and the host's /proc, independently of agenttower's own code,
and returns one sentence per broken rule (empty: all good):

- one live pane record (creating/ready/degraded) per (layout, label) slot, and no
  tmux pane id claimed by two live records;
- no two tmux panes claiming one record; no managed tmux pane (owner option = this
  state dir's instance id) without a record, or whose record was removed;
- no record left `creating` (after a recovery pass);
- no agent process (carrying `AGENTTOWER_PANE_ID=<record>`) whose pane is gone: its
  record is not live, or no tmux pane of its target carries the record;
- `PRAGMA integrity_check` is `ok`;
- every outbox event is in events.jsonl exactly once (and nothing else is), every line
  is whole JSON, and `layout_seq` / `pane_seq` run 1, 2, 3 ... in file order, up to the
  counters stored on the layout and pane rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.test_processes import processes_of

LIVE = ("creating", "ready", "degraded")
LIST_FORMAT = "#{pane_id}\t#{@agenttower_owner}\t#{@agenttower_pane}\t#{pane_dead}"


@dataclass(frozen=True)
class TmuxPane:
    pane_id: str
    owner: str
    record: str
    dead: bool


Lister = Callable[[], list[TmuxPane] | None]  # None: the target cannot be listed right now


def parse_listing(text: str) -> list[TmuxPane]:
    panes = []
    for line in text.splitlines():
        pane_id, owner, record, dead = line.split("\t")
        panes.append(TmuxPane(pane_id, owner, record, dead == "1"))
    return panes


def tmux_lister(run: Callable[..., Any]) -> Lister:
    """A lister from a `tmux(*args, check=False)`-style callable (Env.tmux, Bench.tmux);
    a target with no server lists as empty, as agenttower reads it."""

    def listing() -> list[TmuxPane] | None:
        try:
            out = run("list-panes", "-a", "-F", LIST_FORMAT)
        except subprocess.CalledProcessError as exc:  # a `check=True` runner
            out = exc
        if out.returncode == 0:
            return parse_listing(out.stdout)
        gone = ("no server running", "error connecting", "no such file or directory")
        return [] if any(m in out.stderr.lower() for m in gone) else None

    return listing


@dataclass(frozen=True)
class Record:
    id: str
    layout_id: str
    layout: str
    target: str
    label: str
    state: str
    tmux_pane_id: str | None
    event_seq: int


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def records(state_dir: Path) -> list[Record]:
    db = state_dir / "agenttower.sqlite3"
    if not db.exists():
        return []
    with contextlib.closing(_connect(db)) as conn:
        rows = conn.execute(
            "SELECT p.id, p.layout_id, l.name, l.target_key, p.label, p.state, p.tmux_pane_id,"
            " p.event_seq FROM panes p JOIN layouts l ON l.id = p.layout_id ORDER BY p.created_at"
        ).fetchall()
    return [Record(*row) for row in rows]


def instance_id(state_dir: Path) -> str | None:
    db = state_dir / "agenttower.sqlite3"
    if not db.exists():
        return None
    with contextlib.closing(_connect(db)) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
    return str(row[0]) if row else None


def _store_violations(state_dir: Path) -> list[str]:
    db = state_dir / "agenttower.sqlite3"
    if not db.exists():
        return []
    found = []
    with contextlib.closing(_connect(db)) as conn:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if check != ["ok"]:
            found.append(f"integrity_check: {check[:5]}")
        outbox = [r[0] for r in conn.execute("SELECT event_id FROM outbox ORDER BY seq")]
        layout_seq = dict(conn.execute("SELECT id, event_seq FROM layouts").fetchall())
        pane_seq = dict(conn.execute("SELECT id, event_seq FROM panes").fetchall())
    found += _audit_violations(state_dir / "events.jsonl", outbox, layout_seq, pane_seq)
    return found


def _audit_violations(
    path: Path, outbox: list[str], layout_seq: Mapping[str, int], pane_seq: Mapping[str, int]
) -> list[str]:
    found = []
    events: list[dict[str, Any]] = []
    text = path.read_bytes() if path.exists() else b""
    if text and not text.endswith(b"\n"):
        found.append("events.jsonl ends in a torn line")
    for number, line in enumerate(text.splitlines(), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            found.append(f"events.jsonl:{number} is not JSON: {line[:80]!r}")
    ids = Counter(e.get("event_id") for e in events)
    dups = sorted(str(i) for i, n in ids.items() if n > 1)
    if dups:
        found.append(f"events written more than once: {dups[:5]} ({len(dups)})")
    missing = [i for i in outbox if i not in ids]
    if missing:
        found.append(f"outbox events missing from events.jsonl: {missing[:5]} ({len(missing)})")
    extra = sorted(str(i) for i in set(ids) - set(outbox))
    if extra:
        found.append(f"events.jsonl events not in the outbox: {extra[:5]} ({len(extra)})")
    for key, owner, stored in (("layout_seq", "layout_id", layout_seq), ("pane_seq", "pane_id", pane_seq)):
        seqs: dict[str, list[int]] = defaultdict(list)
        for e in events:
            if e.get(owner) is not None:
                seqs[e[owner]].append(int(e.get(key) or 0))
        for oid, got in seqs.items():
            if got != list(range(1, len(got) + 1)):
                found.append(f"{key} of {oid} is not 1..n in file order: {got}")
        for oid, last in stored.items():
            if last != len(seqs.get(oid, [])):
                found.append(f"{key} of {oid}: stored counter {last}, {len(seqs.get(oid, []))} events")
    return found


def _pane_violations(
    recs: list[Record],
    me: str | None,
    listings: Mapping[str, list[TmuxPane] | None],
    ignore: set[str],
) -> list[str]:
    found = []
    live = [r for r in recs if r.state in LIVE]
    by_id = {r.id: r for r in recs}
    slots = Counter((r.layout, r.label) for r in live)
    found += [f"{n} live records for slot {s[0]}/{s[1]}" for s, n in slots.items() if n > 1]
    claimed = Counter((r.target, r.tmux_pane_id) for r in live if r.tmux_pane_id)
    found += [f"tmux pane {p} of {t} held by {n} live records" for (t, p), n in claimed.items() if n > 1]
    found += [f"record {r.layout}/{r.label} ({r.id}) left creating" for r in recs if r.state == "creating"]
    for target, panes in listings.items():
        if panes is None:
            continue
        ours = [p for p in panes if p.owner == me and p.pane_id not in ignore]
        claims = Counter(p.record for p in ours)
        found += [f"{n} tmux panes of {target} claim record {r}" for r, n in claims.items() if n > 1]
        for p in ours:
            rec = by_id.get(p.record)
            if rec is None:
                found.append(f"managed tmux pane {p.pane_id} of {target} has no record ({p.record!r})")
            elif rec.state == "removed":
                found.append(f"tmux pane {p.pane_id} of {target} outlived its removed record {rec.id}")
    return found


def _process_violations(recs: list[Record], listings: Mapping[str, list[TmuxPane] | None]) -> list[str]:
    found = []
    carried = {(target, p.record) for target, panes in listings.items() if panes is not None for p in panes}
    for rec in recs:
        pids = processes_of(rec.id)
        if not pids:
            continue
        if listings.get(rec.target, []) is None:
            continue  # cannot tell whether its pane is there
        if rec.state not in LIVE:
            found.append(f"processes {sorted(pids)} of {rec.state} record {rec.layout}/{rec.label}")
        elif (rec.target, rec.id) not in carried:
            found.append(f"processes {sorted(pids)} of {rec.layout}/{rec.label}: no tmux pane carries it")
    return found


def violations(
    state_dir: Path,
    listers: Mapping[str, Lister],
    ignore: Iterable[str] = (),
    settle: float = 5.0,
) -> list[str]:
    """Every broken invariant. `listers` maps target keys (`host`, `container:NAME`) to
    their tmux listing; `ignore` names foreign tmux panes (copies of our options).
    Processes get `settle` seconds to die of the SIGHUP a kill sends them."""
    deadline = time.monotonic() + settle
    while True:
        recs = records(state_dir)
        listings = {target: lister() for target, lister in listers.items()}
        found = _pane_violations(recs, instance_id(state_dir), listings, set(ignore))
        procs = _process_violations(recs, listings)
        if not procs or time.monotonic() > deadline:
            return found + procs + _store_violations(state_dir)
        time.sleep(0.1)
