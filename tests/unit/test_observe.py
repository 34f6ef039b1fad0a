"""Reading one `list-panes -a -F` listing, and the argv every tmux call starts with.

A client whose locale is not UTF-8 gets the tabs of the listing format back as `_`
(tmux 3.3a sanitises them). Such a listing comes from a tmux that answered, with panes,
so it must never read as "no panes": that is what killed nothing and spawned orphans.
"""

from __future__ import annotations

import pytest

from agenttower.model.resolved import Target
from agenttower.runtime.observe import FIELDS, ListingStatus, parse_listing
from agenttower.runtime.target import ExecTarget

VALUES = {
    "session_name": "team",
    "window_id": "@0",
    "pane_index": "1",
    "pane_id": "%3",
    "pane_pid": "4242",
    "pane_dead": "0",
    "pane_dead_status": "",
    "pane_dead_signal": "",
    "@agenttower_pane": "pane-1",
    "@agenttower_owner": "owner-1",
    "@agenttower_pending": "",
    "@agenttower_spec": "abc123",
    "@agenttower_activity": "working",
    "pid": "100",
    "@agenttower_agent_session": "",
    "pane_title": "m1",
}


def line(separator: str = "\t", **values: str) -> str:
    return separator.join({**VALUES, **values}[f] for f in FIELDS)


def test_a_tab_separated_listing_parses() -> None:
    listing = parse_listing("host", line() + "\n" + line(pane_id="%4", pane_title="a\ttitle") + "\n")
    assert listing.status is ListingStatus.OK and listing.known
    assert [(p.pane_id, p.record_id, p.title) for p in listing.panes] == [
        ("%3", "pane-1", "m1"),
        ("%4", "pane-1", "a\ttitle"),  # the title is last: a tab in it stays in it
    ]
    assert listing.panes[0].activity == "working"  # what the agent's hook set


@pytest.mark.parametrize("stdout", ["", "\n", "  \n\n"])
def test_tmux_answering_with_nothing_is_ok_with_no_panes(stdout: str) -> None:
    listing = parse_listing("host", stdout)
    assert listing.status is ListingStatus.OK and listing.panes == ()


def test_fr022_a_listing_with_tabs_sanitised_to_underscores_is_indeterminate() -> None:
    garbled = "\n".join(line("_", pane_id=f"%{i}") for i in range(3)) + "\n"
    listing = parse_listing("container:bench", garbled)
    assert listing.status is ListingStatus.INDETERMINATE and not listing.known and not listing.can_create
    assert listing.panes == ()
    assert listing.error is not None and "3 line" in listing.error and "UTF-8" in listing.error
    assert not listing.transient  # not a passing condition: retrying the same call cannot help


def test_fr022_one_unparsable_line_among_good_ones_makes_the_whole_listing_indeterminate() -> None:
    """A pane we cannot read may be ours: acting on the others' absence would be a guess."""
    listing = parse_listing("host", line() + "\n" + line("_", pane_id="%9") + "\n")
    assert listing.status is ListingStatus.INDETERMINATE and listing.panes == ()


@pytest.mark.parametrize(
    "target",
    [Target(), Target(socket="s"), Target(socket_path="/tmp/x.sock"), Target(container="c", user="u")],
)
def test_every_tmux_call_forces_utf8_output(target: Target) -> None:
    argv = ExecTarget(target, tmux_binary="/opt/tmux").argv("list-panes", "-a")
    tmux = argv.index("tmux" if target.container else "/opt/tmux")
    assert argv[tmux + 1] == "-u"
    assert argv[-2:] == ["list-panes", "-a"]
