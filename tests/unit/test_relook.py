"""When the controller looks again at a target nothing will tell it about.

A listener hears a target while its wait runs; when the wait failed (the server, the
container or the docker engine went away) and the target still cannot take panes,
no event will say it is back, so a pass looks again after a back-off: 1 s, doubling
per pass that still finds it so, capped at the resync. Pure: no listener thread is
started and no process runs here (only listings that start neither are passed).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agenttower.daemon.listen import Listener, Listeners, relook_delay
from agenttower.model.resolved import Target
from agenttower.runtime.observe import Listing, ListingStatus, Unavailable, classify_failure
from agenttower.runtime.target import ExecTarget
from agenttower.runtime.tmux import Tmux

BOX = "container:box"
DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def runtime(key: str) -> Tmux:
    return Tmux(ExecTarget(Target.of_key(key)))


def listeners() -> Listeners:
    return Listeners("owner-1", lambda _key: None, relook_first=1.0, relook_cap=30.0)


def engine_down(key: str = BOX) -> Listing:
    return classify_failure(key, DOWN, container=True)


def stopped(key: str = BOX) -> Listing:
    return classify_failure(
        key, f"Error response from daemon: Container {key} is not running", container=True
    )


def no_server(key: str = BOX) -> Listing:
    return classify_failure(key, "no server running on /tmp/tmux-0/default", container=True)


def test_the_listings_mean_what_the_rule_reads():
    assert engine_down().status is ListingStatus.INDETERMINATE and not engine_down().can_create
    assert stopped().unavailable is Unavailable.CONTAINER_STOPPED and not stopped().can_create
    assert no_server().status is ListingStatus.EMPTY and no_server().can_create


def test_an_unheard_target_that_stays_away_is_looked_at_after_a_doubling_back_off_up_to_the_resync():
    ls = listeners()
    delays = [ls.after_pass({BOX: engine_down()}, runtime) for _ in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_target_seen_again_needs_no_relook_and_its_next_outage_starts_over():
    ls = listeners()
    assert ls.after_pass({BOX: engine_down()}, runtime) == 1.0
    assert ls.after_pass({BOX: engine_down()}, runtime) == 2.0
    assert ls.after_pass({BOX: no_server()}, runtime) is None  # a pass creates its panes there
    assert ls.unheard == {}
    assert ls.after_pass({BOX: engine_down()}, runtime) == 1.0


def test_a_stopped_container_is_looked_at_again_too():
    ls = listeners()
    assert ls.after_pass({BOX: stopped()}, runtime) == 1.0
    assert ls.after_pass({BOX: engine_down()}, runtime) == 2.0  # still away, whatever the reason


def test_a_target_whose_listener_still_waits_needs_no_relook():
    """A listing that timed out on a loaded machine: the wait there runs on, and hears."""
    ls = listeners()
    waiting = ls.by_target[BOX] = Listener(runtime(BOX), ls.owner, ls.wake, ls.calls)
    waiting.arm()
    timed_out = Listing(BOX, ListingStatus.INDETERMINATE, (), "docker timed out after 30s", transient=True)
    assert ls.after_pass({BOX: timed_out}, runtime) is None
    waiting.armed.clear()  # its wait failed: until a pass sees the target again
    assert ls.after_pass({BOX: timed_out}, runtime) == 1.0


def test_the_soonest_target_decides_and_each_keeps_its_own_count():
    ls = listeners()
    other = "ssh:devbox"
    assert ls.after_pass({BOX: engine_down()}, runtime) == 1.0
    assert ls.after_pass({BOX: engine_down()}, runtime) == 2.0
    unreachable = Listing(other, ListingStatus.INDETERMINATE, (), "ssh: unreachable", transient=True)
    assert ls.after_pass({BOX: engine_down(), other: unreachable}, runtime) == 1.0
    assert ls.unheard == {BOX: 2, other: 0}
    assert ls.after_pass({other: unreachable}, runtime) == 2.0  # box's layout went: forgotten
    assert ls.unheard == {other: 1}


@given(st.integers(min_value=0, max_value=10_000), st.floats(0.01, 10.0), st.floats(0.01, 3600.0))
def test_the_back_off_never_passes_the_cap_and_never_shrinks(misses, first, cap):
    delay = relook_delay(misses, first, cap)
    assert 0 < delay <= max(cap, 0)
    assert relook_delay(misses + 1, first, cap) >= delay
