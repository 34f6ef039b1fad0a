"""Event-driven observation: one blocked `tmux wait-for` per target, woken by our hooks.

An event only marks the target dirty (it puts a wake-up on the controller's queue); the
pass that follows is the usual level-triggered one, so a lost or doubled event changes
nothing, and the periodic resync stays as the safety net. A wake-up that arrives while a
pass runs is queued and gets a pass of its own; one signalled while the listener is
between two waits is remembered by tmux.

The wait runs in the target beside a nudger that makes the server reap the pane exits
Debian's tmux loses (runtime/hooks.py), one `sh -c` there: for a container one
`docker exec` (or one ssh session, on the host's multiplexed connection) holds both, so
a lost exit is heard within hooks.NUDGE_S in a container or on another machine as on
the host, at no exec per nudge.

When the wait fails (the server died with its hooks, a container stopped, the docker
engine went away), the listener wakes the controller once and then sleeps until a pass
has seen the target again and re-armed it: a target with no server is not polled by a
spinning client. Nothing tells us when such a target comes back (an engine restarted,
by its restart policy the container with it; an ssh host back on the network): tmux
cannot signal from a server that is not there yet. So a target that cannot take panes
and that no listener hears is looked at again by a pass after a back-off (1 s,
doubling per pass that still finds it so, up to the resync), instead of only at the
resync: an engine restart is healed within seconds of the engine answering, and a
target that stays away costs no more than the resync did.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from agenttower.runtime import hooks
from agenttower.runtime.calls import Calls, Interrupted, OutOfTime
from agenttower.runtime.observe import Listing
from agenttower.runtime.tmux import Tmux

WAIT_S = 600.0  # a wait that long without an event ends by itself and is started again

log = structlog.get_logger("agenttower.listen")


@dataclass
class Listener:
    tmux: Tmux  # the target's runtime: its argv and environment (its counters are not used)
    owner: str
    wake: Callable[[str], None]
    calls: Calls  # the listeners' own: a stop kills the blocked waits
    armed: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    events: int = 0

    def start(self) -> Listener:
        name = f"listen {self.tmux.target.key}"
        threading.Thread(target=self._loop, daemon=True, name=name).start()
        return self

    def arm(self) -> None:
        self.armed.set()

    def stop(self) -> None:
        self.done.set()
        self.armed.set()

    def _loop(self) -> None:
        target = self.tmux.target
        argv = target.command(*hooks.waiter_words(target.tmux_words(), self.owner, WAIT_S))
        while not self.done.is_set():
            self.armed.wait()
            if self.done.is_set():
                return
            try:
                answer = self.calls.run(argv, None, WAIT_S + 60.0, target.environment(), target.key)
            except (Interrupted, OutOfTime):
                return
            except subprocess.TimeoutExpired:
                continue
            except OSError as exc:
                log.warning("listener cannot run", target=target.key, error=exc.strerror)
                answer = None
            if self.done.is_set():
                return
            if answer is not None and answer.returncode == hooks.WAIT_EXPIRED:
                continue  # no event in WAIT_S: wait again
            if answer is None or answer.returncode != 0:
                self.armed.clear()  # until a pass has seen the target again
            else:
                self.events += 1
            self.wake(target.key)


def relook_delay(misses: int, first: float, cap: float) -> float:
    """How soon to look again at a target unheard and unusable for `misses` passes in a
    row before this one: `first`, doubling, never more than `cap`."""
    return min(first * 2.0 ** min(misses, 32), cap)


@dataclass
class Listeners:
    """The controller's listeners, one per target with managed panes, and the hooks they
    rely on: installed once per server (a new server pid means a new server, without
    them), removed when the last managed pane leaves a server that lives on."""

    owner: str
    wake: Callable[[str], None]
    calls: Calls = field(default_factory=Calls)
    by_target: dict[str, Listener] = field(default_factory=dict)
    hooked: dict[str, int] = field(default_factory=dict)  # target -> server pid hooked
    relook_first: float = 1.0
    relook_cap: float = 30.0  # the controller's resync: what catches such a target anyway
    unheard: dict[str, int] = field(default_factory=dict)  # target -> passes in a row it was unheard

    def after_pass(self, observed: dict[str, Listing], runtime: Callable[[str], Tmux]) -> float | None:
        """Follow what the pass saw; return how soon the next pass should look again at
        a target that cannot take panes and that no listener hears (None: there is none,
        the events and the resync are enough)."""
        for key, listing in observed.items():
            if listing.known:
                self._follow(key, listing, runtime(key))
        for key in set(self.by_target) - set(observed):  # no layout there any more: not observed
            self._leave(key, runtime(key), hooked=True)
        return self._relook(observed)

    def _relook(self, observed: dict[str, Listing]) -> float | None:
        unheard = {
            key for key, listing in observed.items() if not listing.can_create and not self._hears(key)
        }
        self.unheard = {key: self.unheard.get(key, -1) + 1 for key in unheard}  # the others start over
        if not unheard:
            return None
        return min(
            relook_delay(misses, self.relook_first, self.relook_cap) for misses in self.unheard.values()
        )

    def _hears(self, key: str) -> bool:
        """A listener waits there (or is about to): an event will come when something does."""
        listener = self.by_target.get(key)
        return listener is not None and listener.armed.is_set()

    def _leave(self, key: str, tmux: Tmux, hooked: bool) -> None:
        if hooked and key in self.hooked:
            self._source(tmux, hooks.remove_lines(self.owner))  # the user's server lives on
        self.hooked.pop(key, None)
        listener = self.by_target.pop(key, None)
        if listener is not None:
            listener.stop()

    def _follow(self, key: str, listing: Listing, tmux: Tmux) -> None:
        ours = [p for p in listing.panes if p.owner == self.owner]
        server = next((p.server_pid for p in listing.panes if p.server_pid is not None), None)
        if ours and server is not None:
            listener = self.by_target.get(key)
            if listener is None:
                listener = self.by_target[key] = Listener(tmux, self.owner, self.wake, self.calls).start()
            listener.arm()
            if self.hooked.get(key) != server and self._source(tmux, hooks.install_lines(self.owner)):
                self.hooked[key] = server
                # what died between this pass's observation and the hooks went unheard
                self.wake(key)
            return
        self._leave(key, tmux, hooked=server is not None and self.hooked.get(key) == server)

    @staticmethod
    def _source(tmux: Tmux, lines: list[str]) -> bool:
        try:
            return tmux.source(lines).returncode == 0
        except Exception as exc:  # cosmetic for this pass: the resync still heals
            log.warning("hooks not changed", target=tmux.target.key, error=str(exc))
            return False

    def stop(self) -> None:
        for listener in self.by_target.values():
            listener.stop()
        self.calls.stop("controller stopping")
