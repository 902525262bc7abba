"""The framing parser on its own (codegen_lsp/lsp/framing.py): bytes in any chunking, headers in any HTTP-legal
spelling, framing lost and found again. Fast and exhaustive; tests/test_protocol_robustness.py sends the same
classes of input to the real server over stdio."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from codegen_lsp.lsp.framing import Body, FrameParser, Lost

BODIES = st.builds(
    lambda n, text: json.dumps({"jsonrpc": "2.0", "id": n, "method": "m", "params": {"t": text}}).encode(),
    st.integers(0, 10**6),
    st.text(max_size=40),
)


@st.composite
def header_blocks(draw, length: int) -> bytes:
    """A header block in any spelling the intent of which is unambiguous."""
    name = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in "content-length")
    before, after = draw(st.sampled_from(["", " ", "\t"])), draw(st.sampled_from(["", " ", "  ", "\t"]))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    lines = [f"{name}{before}:{after}{length}".encode()]
    content_type = b"content-type: application/vscode-jsonrpc; charset=utf-8"
    position = draw(st.sampled_from(["none", "first", "last"]))
    if position == "first":
        lines.insert(0, content_type)
    elif position == "last":
        lines.append(content_type)
    blank_lines_before = eol * draw(st.integers(0, 2))
    return blank_lines_before + eol.join(lines) + eol + eol


def parse(stream: bytes, cuts: list[int]) -> list[Body | Lost]:
    parser, events, start = FrameParser(), [], 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        parser.feed(stream[start:cut])
        events += parser.events()
        start = cut
    return events


def bodies(events) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Body)]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.lists(BODIES, min_size=1, max_size=5), st.lists(st.integers(0, 10**6), max_size=8))
def test_any_header_spelling_and_any_chunking_gives_every_body(data, messages, cuts):
    stream = b"".join(data.draw(header_blocks(len(body))) + body for body in messages)
    events = parse(stream, cuts)
    assert bodies(events) == messages
    assert not [e for e in events if isinstance(e, Lost)]


GARBAGE = st.binary(min_size=1, max_size=60).filter(lambda b: b"content-length" not in b.lower())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(GARBAGE, BODIES), min_size=1, max_size=4), st.lists(st.integers(0, 10**6), max_size=8))
def test_garbage_before_a_header_is_skipped_and_reported_once_per_stretch(pieces, cuts):
    stream = b"".join(garbage + b"Content-Length: %d\r\n\r\n" % len(body) + body for garbage, body in pieces)
    events = parse(stream, cuts)
    assert bodies(events) == [body for _, body in pieces]
    assert len([e for e in events if isinstance(e, Lost)]) <= len(pieces)


@settings(max_examples=200, deadline=None)
@given(BODIES, BODIES, st.integers(1, 30), st.lists(st.integers(0, 10**6), max_size=6))
def test_an_understated_length_loses_only_that_message(first, second, short_by, cuts):
    short_by = min(short_by, len(first) - 1)
    stream = b"Content-Length: %d\r\n\r\n" % (len(first) - short_by) + first
    stream += b"Content-Length: %d\r\n\r\n" % len(second) + second
    events = parse(stream, cuts)
    assert bodies(events) == [first[: len(first) - short_by], second]  # the first is answered -32700
    assert [e for e in events if isinstance(e, Lost)]


@settings(max_examples=200, deadline=None)
@given(BODIES, BODIES, st.integers(1, 10_000), st.lists(st.integers(0, 10**6), max_size=6))
def test_an_overstated_length_ends_the_body_where_the_next_header_starts(first, second, long_by, cuts):
    stream = b"Content-Length: %d\r\n\r\n" % (len(first) + long_by) + first
    stream += b"content-length:%d\n\n" % len(second) + second
    events = parse(stream, cuts)
    assert bodies(events) == [first, second]


def test_an_overstated_length_with_nothing_after_is_taken_once_the_stream_stalls():
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "m"}'
    parser = FrameParser()
    parser.feed(b"Content-Length: %d\r\n\r\n" % (len(body) + 50) + body)
    assert parser.events() == []
    stalled = parser.take_stalled()
    assert bodies(stalled) == [body] and isinstance(stalled[0], Lost)
    parser.feed(b"Content-Length: 2\r\n\r\n{}")
    assert bodies(parser.events()) == [b"{}"]


def test_a_partial_body_is_not_taken_early():
    parser = FrameParser()
    parser.feed(b'Content-Length: 100\r\n\r\n{"jsonrpc": "2.0", "id"')
    assert parser.events() == [] and parser.take_stalled() == []


def test_header_blocks_without_a_usable_length_are_skipped():
    parser = FrameParser()
    parser.feed(b"Content-Type: x\r\n\r\nContent-Length: many\r\n\r\nContent-Length: 2\r\n\r\n{}")
    events = parser.events()
    assert bodies(events) == [b"{}"]
    assert len([e for e in events if isinstance(e, Lost)]) == 1  # one stretch of lost framing, one report


def test_an_absurd_length_allocates_nothing_and_the_next_header_still_ends_it():
    parser = FrameParser()
    parser.feed(b"Content-Length: 100000000000\r\n\r\n{}")
    assert parser.events() == []
    parser.feed(b"Content-Length: 2\r\n\r\n[]")
    assert bodies(parser.events()) == [b"{}", b"[]"]


def test_a_huge_line_without_line_end_is_dropped_but_a_header_at_its_end_survives():
    parser = FrameParser()
    parser.feed(b"x" * 100_000)
    parser.events()
    parser.feed(b"Content-Length: 2\r\n\r\n{}")
    assert bodies(parser.events()) == [b"{}"]
