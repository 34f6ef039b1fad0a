"""The creation pipeline for one target: pane_create, launch_command, registration,
log_attach, then the pending marker cleared.

Records are committed (state `creating`, marker token) before tmux is asked for
anything, so a crash at any instant leaves nothing or a marked pane the next pass
recognises. All panes of the target are spawned by one batch, probed by one listing
and settled by one batch, whatever their number.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_chain, wait_fixed

from agenttower.events.types import EventType
from agenttower.model import agents, environment
from agenttower.model.durations import rfc3339
from agenttower.model.errors import AgentTowerError
from agenttower.model.lifecycle import Actor, Stage, State
from agenttower.model.log_header import RunHeader
from agenttower.model.redaction import redact
from agenttower.model.resolved import DesiredLayout, DesiredPane
from agenttower.runtime import hooks, worktree
from agenttower.runtime.batch import (
    PaneSpawn,
    guarded_split_line,
    layout_line,
    new_session_line,
    probe_lines,
    respawn_line,
    running_user,
    settle_line,
    split_line,
)
from agenttower.runtime.observe import FORMAT, Listing, ObservedPane, parse_listing
from agenttower.runtime.quoting import SIZE_FIELD
from agenttower.runtime.tmux import Tmux, TransientError
from agenttower.store.records import LayoutRecord, PaneRecord
from agenttower.store.repo import NewPane, Store, Writer

from . import conversations, last_output, log_rotation, logs
from .actions import Action, Conversation, Kind, Spawn
from .context import PassContext
from .identity import Claims, Match, claims, match


@dataclass
class Spawning:
    layout: DesiredLayout
    layout_id: str
    record: PaneRecord
    pane: DesiredPane
    anchor: str | None
    tmux_pane_id: str | None = None
    respawn: str | None = None
    log_path: Path | None = None
    log_error: str | None = None
    set_aside: str | None = None  # the predecessor layout whose log files move out of the way
    spawned_at: float = 0.0
    actor: Actor = Actor.OPERATOR


def launch_payload(pane: DesiredPane) -> dict[str, Any]:
    launch = pane.launch
    return {
        "profile": launch.profile,
        "command": list(launch.command) if launch.command is not None else None,
        "env": dict(launch.env),
        "working_dir": launch.working_dir,
        **({"resume": list(launch.resume)} if launch.resume is not None else {}),
        **({"worktree": asdict(launch.worktree)} if launch.worktree is not None else {}),
    }


def _wired(argv: tuple[str, ...] | None, agent: str | None, owner: str) -> tuple[str, ...] | None:
    """The argv with the agent kind's hooks, which report to the controller's channel."""
    return agents.wired(argv, agent, hooks.channel(owner)) if argv is not None else None


@dataclass
class SpawnPipeline:
    ctx: PassContext
    tmux: Tmux
    _claimed: tuple[Listing, Claims] | None = None  # the last listing matched, and its claims
    _screens: Mapping[str, str] = field(default_factory=dict)  # exited at the probe: their last output
    _latest_layouts: dict[tuple[str, str], LayoutRecord] | None = None  # (name, target) -> newest record

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def probe_delay(self) -> float:
        return self.ctx.settings.tmux.probe_delay

    def run(self, creations: Sequence[Action]) -> list[AgentTowerError]:
        errors: list[AgentTowerError] = []
        spawns = self._in_worktrees(self._record(creations, errors))
        if not spawns:
            return errors
        for spawn in spawns:
            if spawn.tmux_pane_id is None:
                self._prepare_log(spawn)
        stderr, listing, unprobed = self._spawn(spawns)
        self._await_container_logs(spawns, listing)
        dead = [obs.pane_id for obs in (self._find(s, listing) for s in spawns) if obs and obs.dead]
        self._screens = last_output.capture(self.tmux, dead)  # what the ones that exited at once said
        self._settle(self._conclude_all(spawns, listing, stderr, unprobed))
        return errors

    # -- records first ----------------------------------------------------------------
    def _record(self, creations: Sequence[Action], errors: list[AgentTowerError]) -> list[Spawning]:
        spawns: list[Spawning] = []
        for action in creations:
            actor = self._actor_of(action)
            assert isinstance(action.detail, Spawn)
            try:
                with self.store.write(self.ctx.clock(), actor) as tx:
                    recorded = self._record_one(tx, action, action.detail)
            except AgentTowerError as exc:
                errors.append(exc)
                continue
            for spawn in recorded:
                spawn.actor = actor
            spawns.extend(recorded)
        return spawns

    def _in_worktrees(self, spawns: list[Spawning]) -> list[Spawning]:
        """Each new pane that asks for a worktree gets it before it starts (or an existing
        one is reused); a pane whose worktree git could not make fails at pane_create,
        with git's words, and is not started in some other directory."""
        kept: list[Spawning] = []
        for spawn in spawns:
            tree = spawn.pane.launch.worktree
            if tree is None or spawn.tmux_pane_id is not None:
                kept.append(spawn)
                continue
            made = worktree.ensure(self.tmux.target, tree, self.tmux.calls)
            if made.ok:
                kept.append(spawn)
                continue
            with self.store.write(self.ctx.clock(), spawn.actor) as tx:
                reason = f"worktree {tree.path} (branch {tree.branch}): {made.message or 'git failed'}"
                tx.transition(spawn.record, State.FAILED, stage=Stage.PANE_CREATE, reason=reason)
                tx.refresh_layout_state(spawn.layout_id)
        return kept

    def _actor_of(self, action: Action) -> Actor:
        """A restart, a Recreate update or a resumed creation is the reconciler's own decision."""
        spawn = action.detail
        replaces = isinstance(spawn, Spawn) and spawn.replaces and spawn.removed_by is Actor.CONTROLLER
        decided_here = action.kind is Kind.RESUME_PANE or (action.kind is Kind.CREATE_PANE and replaces)
        return Actor.CONTROLLER if decided_here else self.ctx.actor

    def _record_one(self, tx: Writer, action: Action, spawn: Spawn) -> list[Spawning]:
        """The records of one creation, committed before tmux is asked for anything (the
        planner already held it to capacity and to what the target can take)."""
        layout = spawn.layout
        if action.kind is Kind.RESUME_PANE:
            record = self.store.pane(str(action.resource.id))
            assert record is not None and spawn.layout_id is not None
            pane = spawn.panes[0]
            log_path = self._log_path(layout, pane)
            return [
                Spawning(
                    layout, spawn.layout_id, record, pane, spawn.anchor, spawn.tmux_pane_id, log_path=log_path
                )
            ]
        predecessor = None
        if spawn.layout_id is None:
            predecessor = self._predecessor_layout(layout)
            resolved = layout.to_json()
            layout_id = tx.insert_layout(
                layout.name,
                layout.target.key,
                layout.session,
                layout.spec,
                layout.source.file if layout.source else None,
                resolved,
                layout.fingerprint(resolved),
            )
            tx.emit(
                EventType.LAYOUT_CREATED,
                layout_id,
                None,
                {
                    "session": layout.session,
                    "target": layout.target.key,
                    "panes": [p.label for p in layout.panes],
                },
            )
        else:
            layout_id = spawn.layout_id
            if spawn.replaces:
                self._replace(tx, spawn.replaces, action.cause, spawn.removed_by)
        pred, depth, restarts = spawn.predecessor_id, spawn.chain_depth, spawn.restarts_in_a_row
        talk = spawn.conversation or Conversation()
        spawns = []
        for pane in spawn.panes:
            slot = next(i for i, p in enumerate(layout.panes) if p.label == pane.label)
            record = tx.insert_pane(
                layout_id,
                NewPane(
                    pane.label,
                    pane.role,
                    pane.capability,
                    slot,
                    pane.spec_hash,
                    redact(launch_payload(pane)),
                    pred,
                    depth,
                    restarts,
                    talk.session_id,
                    talk.agent_session_id,
                    talk.resume_id if pane.launch.resume is not None else None,
                ),
            )
            tx.emit(
                EventType.PANE_CREATED,
                layout_id,
                record.id,
                {
                    "label": pane.label,
                    "role": pane.role,
                    "capability": pane.capability,
                    "launch": launch_payload(pane),
                    "predecessor_id": pred,
                    "chain_depth": depth,
                },
            )
            if pred is not None:
                tx.emit(
                    EventType.PANE_RECREATED,
                    layout_id,
                    record.id,
                    {
                        "predecessor_id": pred,
                        "chain_depth": depth,
                        "session_id": record.session_id,
                        "resumed_from": record.resumed_from,
                    },
                )
            if talk.fell_back:
                tx.emit(
                    EventType.PANE_RESUME_FELL_BACK,
                    layout_id,
                    record.id,
                    {"predecessor_id": pred, "session_id": record.session_id},
                )
            log_path = self._log_path(layout, pane)
            if predecessor is not None and log_path is not None and layout.target.host is None:
                aside = log_rotation.aside_name(log_path, predecessor)
                tx.move_logs(predecessor, str(log_path), str(aside))
            spawns.append(
                Spawning(
                    layout,
                    layout_id,
                    record,
                    pane,
                    spawn.anchor,
                    respawn=spawn.respawn,
                    log_path=log_path,
                    set_aside=predecessor,
                )
            )
        tx.refresh_layout_state(layout_id)
        return spawns

    def _replace(self, tx: Writer, pane_id: str, cause: str, removed_by: Actor) -> None:
        """First of the two legal steps of a restart: the old record is removed."""
        old = self.store.pane(pane_id)
        if old is None or old.state == State.REMOVED:
            return
        tx.transition(old, State.REMOVED, removed_by=removed_by, reason=cause, requested_action="restart")
        tx.emit(
            EventType.PANE_REMOVED, old.layout_id, old.id, {"cause": cause, "tmux_pane_id": old.tmux_pane_id}
        )

    def _log_path(self, layout: DesiredLayout, pane: DesiredPane) -> Path | None:
        """The host-side path (what the pane record keeps); None: a container without logMount."""
        return logs.host_path(self.ctx.logs_dir, layout.target, layout.name, pane.label)

    def _predecessor_layout(self, layout: DesiredLayout) -> str | None:
        """The removed layout of this name on this target whose log files a new one would
        otherwise append to (reconcile/log_rotation.py). The records are read once per
        batch of creations: those it inserts are new layouts, never a removed one."""
        if self._latest_layouts is None:  # in creation order: the newest of a name wins
            records = self.store.layouts(include_removed=True)
            self._latest_layouts = {(rec.name, rec.target_key): rec for rec in records}
        rec = self._latest_layouts.get((layout.name, layout.target.key))
        return rec.id if rec is not None and rec.state == State.REMOVED else None

    def _prepare_log(self, spawn: Spawning) -> None:
        if spawn.set_aside is not None and spawn.log_path is not None and spawn.layout.target.host is None:
            log_rotation.set_aside(spawn.log_path, spawn.set_aside)
        spawn.log_error = logs.prepare_for(spawn.layout.target, spawn.log_path)

    def _await_container_logs(self, spawns: Sequence[Spawning], listing: Listing) -> None:
        """A container's pipe creates its log file itself, asynchronously: give the files
        of live panes a moment to show up on the host before they are checked (not for a
        container on an ssh host: its files are not on this machine)."""
        paths = []
        for spawn in spawns:
            target = spawn.layout.target
            remote = target.host is not None
            if target.container is None or remote or spawn.log_path is None or spawn.log_error:
                continue
            obs = self._find(spawn, listing)
            if obs is not None and not obs.dead:
                paths.append(spawn.log_path)
        if paths:
            logs.await_files(paths)

    # -- one batch ----------------------------------------------------------------------
    def _spawn(self, spawns: list[Spawning]) -> tuple[str, Listing, set[str]]:
        """One invocation spawns every pane and probes them: new sessions, their other panes
        (each split guarded by the session's owner tag, so a pane never lands in a foreign
        session that took the name), splits and respawns by `%id`, then `run-shell sleep`
        and one `list-panes`. A line that fails skips only itself."""
        pending = [s for s in spawns if s.tmux_pane_id is None]
        started = time.monotonic()
        for spawn in spawns:
            spawn.spawned_at = started
        stderr, listing = self._batch(pending) if pending else ("", None)
        if listing is not None:
            return stderr, listing, set()
        # the batch's own probe did not come back (a server killed mid-batch answers nothing
        # at all): whether its panes were created is unknown, whatever a later look shows
        return stderr, self.tmux.list_panes(), {s.record.id for s in pending}

    def _batch(self, spawns: list[Spawning]) -> tuple[str, Listing | None]:
        """After a timeout, observe again and resend only the lines whose pane does not exist
        yet (a retry never spawns a pane twice). The batch's own listing is used only when
        it was read whole and shows panes: anything else (nothing parsed although tmux
        answered) is not evidence that a pane was not created, so a real observation
        decides, and if that is indeterminate too the records stay `creating`."""
        pending, stderr, tries = list(spawns), "", 0

        def attempt() -> tuple[str, Listing | None] | None:
            """One send; a retry first looks again and resends only what is still missing
            (None: nothing is known, or nothing is missing: stop sending)."""
            nonlocal pending, stderr, tries
            tries += 1
            if tries > 1:
                listing = self.tmux.list_panes()
                if not listing.known:
                    return None
                pending = [s for s in pending if not self._match(s, listing).pane]
                if not pending:
                    return None
            lines = [*self._lines(pending), *probe_lines(self.probe_delay, FORMAT)]
            try:
                result = self.tmux.source(lines, start_server=True)
            except TransientError as exc:
                stderr = str(exc)
                raise
            listing = parse_listing(self.tmux.target.key, result.stdout)
            return result.stderr.strip(), listing if listing.known and listing.panes else None

        waits = self.ctx.settings.tmux.retry_waits
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(len(waits) + 1),
            wait=wait_chain(*(wait_fixed(w) for w in waits)),
            sleep=self.ctx.sleep,
            reraise=True,
        )
        with contextlib.suppress(TransientError):
            answered = retrying(attempt)
            if answered is not None:
                return answered
        if self.probe_delay > 0:
            self.ctx.sleep(self.probe_delay)
        return stderr, None

    def _lines(self, spawns: list[Spawning]) -> list[str]:
        lines: list[str] = []
        started: set[str] = set()
        for spawn in spawns:
            pane_spawn = self._pane_spawn(spawn)
            session = spawn.layout.session
            if spawn.respawn is not None:
                lines.append(respawn_line(spawn.respawn, pane_spawn))
            elif spawn.anchor is not None:
                lines.append(split_line(spawn.anchor, pane_spawn))
            elif session in started:
                lines.append(guarded_split_line(session, pane_spawn, spawn.layout_id))
            else:
                started.add(session)
                lines.append(new_session_line(session, pane_spawn, spawn.layout_id))
        return lines

    def _pane_spawn(self, spawn: Spawning) -> PaneSpawn:
        launch = spawn.pane.launch
        return PaneSpawn(
            record_id=spawn.record.id,
            owner=spawn.record.owner,
            token=spawn.record.marker_token,
            spec_hash=spawn.pane.spec_hash,
            label=spawn.pane.label,
            command=_wired(conversations.argv(launch, spawn.record), launch.agent, spawn.record.owner),
            env=environment.assignments(launch.env, self._identity(spawn)),
            working_dir=launch.working_dir,
            host_path=spawn.layout.target.local,
            log_path=self._pipe_path(spawn),
            log_make_dir=not spawn.layout.target.local,
            log_header=self._log_header(spawn),
            # the host's panes run as this user: they need not ask `id` (LAUNCH_SCRIPT)
            user=running_user() if spawn.layout.target.local else "",
            owned_path=str(self.ctx.logs_dir),
        )

    @staticmethod
    def _identity(spawn: Spawning) -> environment.PaneIdentity:
        pane = spawn.pane
        record = spawn.record
        return environment.PaneIdentity(
            spawn.layout.name, pane.label, pane.role, record.id, record.session_id
        )

    def _log_header(self, spawn: Spawning) -> str:
        """This run's first line in the log (model/log_header.py); tmux fills in the size."""
        argv = conversations.argv(spawn.pane.launch, spawn.record) or ()
        header = RunHeader(spawn.record.id, rfc3339(self.ctx.clock()), tuple(argv))
        return header.line(size=SIZE_FIELD)

    def _pipe_path(self, spawn: Spawning) -> str | None:
        """Where the pipe writes, as the tmux server sees it (inside the container for one)."""
        if spawn.log_path is None or spawn.log_error:
            return None
        return logs.pipe_path(self.ctx.logs_dir, spawn.layout.target, spawn.layout.name, spawn.pane.label)

    # -- probe, register, log ------------------------------------------------------------
    def _conclude_all(
        self, spawns: Sequence[Spawning], listing: Listing, stderr: str, unprobed: set[str]
    ) -> list[Spawning]:
        """Every pane out of `creating` in one transaction per actor, not one per pane (each
        commit writes the WAL); returns what has a tmux pane to settle, in spawn order."""
        concluded: set[int] = set()
        by_actor: dict[Actor, list[Spawning]] = {}
        for spawn in spawns:
            by_actor.setdefault(spawn.actor, []).append(spawn)
        layouts: dict[str, LayoutRecord] = {}
        for actor, group in by_actor.items():
            with self.store.write(self.ctx.clock(), actor) as tx:
                for spawn in group:
                    if self._conclude(tx, spawn, listing, stderr, layouts, spawn.record.id in unprobed):
                        concluded.add(id(spawn))
        return [s for s in spawns if id(s) in concluded]

    def _conclude(
        self,
        tx: Writer,
        spawn: Spawning,
        listing: Listing,
        stderr: str,
        layouts: dict[str, LayoutRecord],
        unprobed: bool = False,
    ) -> bool:
        """Move one pane out of `creating`; True when it has a tmux pane to settle. A pane
        is failed as not created only on the word of the batch's own probe: without it,
        the record stays `creating` and the next pass resumes it (or the TTL sweep ends it)."""
        found = self._match(spawn, listing)
        obs = found.pane
        if found.ambiguous or (obs is None and (unprobed or not listing.known)):
            return False  # cannot tell: the record stays `creating`, the next pass decides
        record = spawn.record
        if obs is None:
            reason = stderr or "tmux did not create the pane"
            tx.transition(record, State.FAILED, stage=Stage.PANE_CREATE, reason=reason)
            tx.refresh_layout_state(spawn.layout_id)
            return False
        spawn.tmux_pane_id = obs.pane_id
        tx.attach(record.id, obs.pane_id, str(spawn.log_path) if spawn.log_path else None)
        tx.emit(
            EventType.PANE_PENDING_MARKER_SET,
            spawn.layout_id,
            record.id,
            {"token": record.marker_token, "tmux_pane_id": obs.pane_id},
        )
        self._outcome(tx, spawn, obs, layouts)
        tx.refresh_layout_state(spawn.layout_id)
        return True

    def _find(self, spawn: Spawning, listing: Listing) -> ObservedPane | None:
        return self._match(spawn, listing).pane

    def _match(self, spawn: Spawning, listing: Listing) -> Match:
        """The pane this creation spawned: its pending token, in its session (identity.py).
        The claims of a listing are gathered once, not once per pane of the batch."""
        if self._claimed is None or self._claimed[0] is not listing:
            self._claimed = (listing, claims(listing.panes, self.store.instance_id))
        return match(spawn.record, spawn.layout.session, self._claimed[1])

    def _outcome(
        self, tx: Writer, spawn: Spawning, obs: ObservedPane, layouts: dict[str, LayoutRecord]
    ) -> None:
        record = spawn.record
        if obs.dead:
            screen = self._screens.get(obs.pane_id)
            if screen is not None:
                tx.set_last_output(record.id, screen)
            elapsed = int((time.monotonic() - spawn.spawned_at) * 1000)
            tx.emit(
                EventType.PANE_LAUNCH_COMMAND_EXITED,
                spawn.layout_id,
                record.id,
                {"exit_code": obs.dead_status, "signal": obs.dead_signal, "elapsed_ms": elapsed},
            )
            tx.transition(
                record,
                State.DEGRADED,
                stage=Stage.LAUNCH_COMMAND,
                reason=f"launch command {obs.exit_description}",
                exit_code=obs.dead_status,
            )
            return
        try:
            layout = layouts.get(spawn.layout_id) or self.store.layout(spawn.layout_id)
            assert layout is not None
            layouts[spawn.layout_id] = layout  # its name and target: what an agent row keeps
            tx.register_agent(record, layout, obs.pane_id)
        except sqlite3.Error as exc:
            tx.transition(record, State.FAILED, stage=Stage.REGISTRATION, reason=str(exc))
            return
        log_error = spawn.log_error or logs.check(spawn.layout.target, spawn.log_path)
        if log_error:
            tx.emit(EventType.PANE_LOG_ATTACH_FAILED, spawn.layout_id, record.id, {"reason": log_error})
            tx.transition(record, State.DEGRADED, stage=Stage.LOG_ATTACH, reason=log_error)
            return
        probe = spawn.pane.launch.readiness
        if probe is not None:  # the last stage: later passes read its screen until then
            tx.await_readiness(record, rfc3339(self.ctx.clock() + timedelta(seconds=probe.timeout)))
            return
        tx.transition(record, State.READY)

    # -- settle -------------------------------------------------------------------------------
    def _settle(self, spawns: list[Spawning]) -> None:
        if not spawns:
            return
        lines = [settle_line(s.tmux_pane_id, s.pane.label) for s in spawns if s.tmux_pane_id]
        anchors: dict[str, tuple[str, str]] = {}
        for s in spawns:
            if s.layout.tmux_layout and s.tmux_pane_id:
                anchors.setdefault(s.layout_id, (s.tmux_pane_id, s.layout.tmux_layout))
        lines += [layout_line(pane_id, name) for pane_id, name in anchors.values()]
        try:
            self.tmux.source(lines)
        except TransientError:
            return  # markers stay set; the panes are already recorded and usable
        with self.store.write(self.ctx.clock(), self.ctx.actor) as tx:
            for s in spawns:
                tx.emit(
                    EventType.PANE_PENDING_MARKER_CLEARED,
                    s.layout_id,
                    s.record.id,
                    {"token": s.record.marker_token},
                )
