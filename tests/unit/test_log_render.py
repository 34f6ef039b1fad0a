"""The run header and the terminal rendering of a log, on byte streams made here."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttower.cli.log_render import render, text_lines
from agenttower.model.log_header import RunHeader, last_header, split_runs


def header(pane_id: str = "pane_1", argv: tuple[str, ...] = ("sh", "-c", "x"), size: str = "40x10") -> bytes:
    return b"\n" + RunHeader(pane_id, "2026-01-01T00:00:00Z", argv).line(size=size).encode() + b"\n"


@given(st.lists(st.text(), max_size=5), st.binary(max_size=200))
def test_a_header_reads_back_whatever_its_argv_and_whatever_the_run_printed(
    argv: list[str], output: bytes
) -> None:
    data = header(argv=tuple(argv)) + output.replace(b"--- agenttower run:", b"") + header("pane_2")
    runs = list(split_runs(data))
    assert [r.header.pane_id for r in runs if r.header] == ["pane_1", "pane_2"]
    assert runs[0].header is not None and runs[0].header.argv == tuple(argv)
    assert (runs[0].header.columns, runs[0].header.rows) == (40, 10)


def test_a_header_is_one_line_of_printable_ascii_even_for_a_hostile_argv() -> None:
    line = RunHeader("pane_1", "t", ("a\nb", "\x1b[2J", "é", "] ---")).line()
    assert "\n" not in line and line.isascii() and "\x1b" not in line and line.isprintable()


def test_bytes_before_any_header_are_a_run_of_their_own_and_the_last_header_is_found() -> None:
    data = b"old output\r\n" + header("pane_a") + b"one\r\n" + header("pane_b") + b"two\r\n"
    runs = list(split_runs(data))
    assert [(r.header.pane_id if r.header else None, r.data) for r in runs] == [
        (None, b"old output\r\n"),
        ("pane_a", b"one\r\n"),
        ("pane_b", b"two\r\n"),
    ]
    found = last_header(data)
    assert found is not None and found.pane_id == "pane_b"
    assert last_header(b"no header here") is None


def lines_of(data: bytes) -> list[str]:
    return [line for line in text_lines(render(data)) if not line.startswith("=== ")]


def test_cursor_moves_become_the_words_they_placed() -> None:
    assert lines_of(header() + b"Welcome\x1b[9Gto\x1b[12GClaude\r\n") == ["Welcome to Claude"]


def test_a_redraw_in_place_keeps_only_its_last_state_and_a_clear_keeps_what_it_wiped() -> None:
    spinner = b"".join(b"\rworking %d" % i for i in range(10))
    data = header() + spinner + b"\r\n" + b"first screen\r\n\x1b[2J\x1b[Hsecond screen\r\n"
    assert lines_of(data) == ["working 9", "first screen", "second screen"]


def test_the_alternate_screen_shows_its_last_frame_in_order_and_the_main_screen_comes_back() -> None:
    data = (
        header()
        + b"$ top\r\n"
        + b"\x1b[?1049h\x1b[H\x1b[2J\x1b[1;1Hload 1\x1b[1;1Hload 2\x1b[5;3Hprocess list\x1b[?1049l"
        + b"$ exit\r\n"
    )
    assert lines_of(data) == ["$ top", "load 2", "", "  process list", "$ exit"]


def test_lines_that_scroll_off_the_screen_stay_in_order() -> None:
    data = header(size="20x3") + b"".join(b"line %d\r\n" % i for i in range(10))
    assert lines_of(data) == [f"line {i}" for i in range(10)]


def test_a_pager_on_the_alternate_screen_keeps_what_it_scrolled_past() -> None:
    pages = b"".join(b"page line %d\r\n" % i for i in range(6))
    data = header(size="20x3") + b"$ less f\r\n\x1b[?1049h\x1b[H" + pages + b"\x1b[?1049l$ \r\n"
    assert lines_of(data) == ["$ less f", *(f"page line {i}" for i in range(6)), "$"]


def test_each_run_starts_on_a_fresh_screen_of_its_own_size() -> None:
    data = header("pane_a", size="10x2") + b"0123456789abc\r\n" + header("pane_b") + b"\x1b[2;1Hsecond\r\n"
    text = list(text_lines(render(data)))
    assert text[0].startswith("=== run of pane pane_a, started 2026-01-01T00:00:00Z: sh -c x")
    assert text[1:3] == ["0123456789", "abc"]  # wrapped at the pane's 10 columns
    assert text[3].startswith("=== run of pane pane_b,")
    assert text[4:] == ["second"]  # row 2 of its own screen; nothing of the run before


@given(st.lists(st.integers(0, 6), min_size=1, max_size=5), st.integers(-1, 30))
def test_the_tail_of_a_log_is_the_tail_of_its_whole_rendering(lengths: list[int], tail: int) -> None:
    data = b"".join(
        header(f"pane_{i}") + b"".join(b"run %d line %d\r\n" % (i, n) for n in range(count))
        for i, count in enumerate(lengths)
    )
    whole = list(text_lines(render(data)))
    shown = list(text_lines(render(data, tail)))
    if tail < 0:
        assert shown == whole
    elif tail == 0:
        assert shown == []
    else:
        assert shown[-tail:] == whole[-tail:]
    assert len(render(data, 1)) == 1  # the last run alone is played for one line


def test_a_rotated_run_is_named_as_continued() -> None:
    line = RunHeader("pane_1", "t", ("claude",), 80, 24).continued_line()
    runs = list(render(b"\n" + line.encode() + b"\nmore\r\n"))
    assert runs[0][0].header is not None and runs[0][0].header.continued
    assert next(text_lines(runs)) == "=== run of pane pane_1, started t: claude, continued after rotation ==="


# pieces of escape sequences, glued at random: malformed ones included
ESCAPES = st.sampled_from(
    [b"\x1b[", b"\x1b]", b"\x1b[?", b"\x1b[>", b"\x1b[=", b"\x9b", b"\x1bP", b"\x1b\\", b"\x07", b";"]
    + [b"0", b"2", b"4", b"1049", b"9999", b"\r\n", b"\x08", b"\t", b"\x0e", b"\x0f", "é".encode()]
    + [b"\x1bc", b"\x1b(0", b"\x1b7", b"\x1b8", b"\x1b#8", b"\x1bD", b"\x1bM", b"\x1bE", b"\xf0\x9f\x98\x80"]
    + [bytes([c]) for c in b"@ABCDEFGHJKLMPSTXdfghlmnqrsu`"]
)


@settings(max_examples=400)
@given(st.lists(st.one_of(ESCAPES, ESCAPES, ESCAPES, st.binary(max_size=4)), max_size=80))
def test_any_byte_stream_renders_to_text_without_failing(chunks: list[bytes]) -> None:
    lines = list(text_lines(render(header(size="20x5") + b"".join(chunks))))
    assert all("\x1b" not in line and "\n" not in line for line in lines)


def test_private_sgr_that_agents_send_is_ignored() -> None:
    data = header() + b"\x1b[>4;2m\x1b[?4mDo you trust\x1b[>4m the files?\r\n"
    assert lines_of(data) == ["Do you trust the files?"]
