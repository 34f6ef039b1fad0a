"""In-process passes on a clock a test moves: what tests of time-driven rules share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from agenttower.paths import Paths
from agenttower.reconcile import engine
from agenttower.reconcile.engine import PassResult, Session
from agenttower.reconcile.reconciler import Op, Request, reconcile
from agenttower.settings import Settings

Run = Callable[[float], PassResult]


@contextmanager
def clocked_passes(settings: Settings) -> Iterator[tuple[Session, Run]]:
    """A session of this test's state dir whose clock only `run(seconds)` moves: it moves
    it on, then runs one pass of the desired dir (its tmux invocations are counted)."""
    paths = Paths.resolve(None, None)
    now = [datetime.now(UTC)]
    with engine.session(paths, settings) as session:
        session.clock = lambda: now[0]

        def run(seconds: float = 0.0) -> PassResult:
            now[0] += timedelta(seconds=seconds)
            result = reconcile(session, Request(Op.PASS, desired=engine.load_desired(paths)))
            assert result.passed is not None
            return result.passed

        yield session, run
