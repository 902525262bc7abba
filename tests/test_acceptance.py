"""Following accepted text through edits, as the retention check needs it: random edits in every position encoding
(line breaks of every kind, characters outside the BMP) must leave a tracked region on exactly the text it held,
whatever happens around it; and the pieces of arithmetic the counters rest on."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from codegen_lsp.acceptance_positions import Tracked, advance, kept_characters, move, utf16_prefix
from codegen_lsp.lsp.documents import apply_change, offset_at

ENCODINGS = ["utf-8", "utf-16", "utf-32"]
WIDTH = {"utf-8": lambda c: len(c.encode("utf-8")), "utf-16": lambda c: 2 if ord(c) > 0xFFFF else 1,
         "utf-32": lambda c: 1}
PIECES = ["a", "bc", " ", "def f():", "\n", "\r\n", "\r", "😀", "漢字", "é", "𝔘"]
texts = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)


def position_at(text: str, offset: int, encoding: str) -> types.Position:
    """The LSP position of a code-point offset (straight from the spec: lines end at \\n, \\r\\n or \\r)."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    line = max(i for i, start in enumerate(starts) if start <= offset)
    return types.Position(line, sum(WIDTH[encoding](c) for c in text[starts[line]:offset]))


@settings(max_examples=300, deadline=None)
@given(before=texts, region=texts.filter(bool), after=texts, encoding=st.sampled_from(ENCODINGS),
       edits=st.lists(st.tuples(st.booleans(), st.integers(0, 50), st.integers(0, 8), texts), max_size=6))
def test_a_region_holds_its_text_through_edits_around_it(before, region, after, encoding, edits):
    text = before + region + after
    if text[len(before) - 1:len(before) + 1] == "\r\n" or text[len(before + region) - 1:len(before + region) + 1] == "\r\n":
        return  # a region edge inside a CRLF is not a position
    begin, end = len(before), len(before) + len(region)
    start_point = Tracked(*_pair(position_at(text, begin, encoding)))
    end_point = Tracked(*_pair(position_at(text, end, encoding)), is_end=True)
    for in_front, at, length, new in edits:
        # an edit entirely before the region or entirely after it (it may start at its end: typing on after it);
        # text put exactly at its start joins it (so an accept reported before its insertion still finds it)
        lo, hi = (0, begin - 1) if in_front else (end, len(text))
        if hi < lo:
            continue
        a = min(hi, lo + at % (hi - lo + 1))
        b = min(hi, a + length)
        if text[a - 1:a + 1] == "\r\n" or text[b - 1:b + 1] == "\r\n":
            continue
        new_text = new
        if (text[a - 1:a] == "\r" and new_text.startswith("\n")) or (new_text.endswith("\r") and text[b:b + 1] == "\n"):
            continue  # would join into a CRLF across the region's edge: a different line structure
        start, stop = position_at(text, a, encoding), position_at(text, b, encoding)
        text, problems = apply_change(text, start, stop, new_text, encoding)
        assert not problems
        for point in (start_point, end_point):
            move(point, start, stop, new_text, encoding)
        if in_front:
            begin, end = begin + len(new_text) - (b - a), end + len(new_text) - (b - a)
    got_begin = offset_at(text, start_point.position(), encoding)[0]
    got_end = offset_at(text, end_point.position(), encoding)[0]
    assert text[got_begin:got_end] == region == text[begin:end]


def _pair(position: types.Position) -> tuple[int, int]:
    return position.line, position.character


def test_deleting_inside_a_region_shrinks_it_and_a_replacement_at_its_end_joins_it():
    text = "x = 0\nvalue = compute(a, b)\n"
    start, end = Tracked(1, 8), Tracked(1, 22, is_end=True)  # "compute(a, b)"
    move(start, types.Position(1, 15), types.Position(1, 22), "", "utf-16")  # delete "(a, b)"
    assert (start.line, start.character, end.line, end.character) == (1, 8, 1, 22)
    move(end, types.Position(1, 15), types.Position(1, 22), "", "utf-16")
    assert (end.line, end.character) == (1, 15)
    move(end, types.Position(1, 12), types.Position(1, 15), "ute()\n", "utf-16")  # replaced over the end
    assert (end.line, end.character) == (2, 0)
    move(start, types.Position(0, 0), types.Position(0, 0), "import os\n", "utf-16")  # a line above
    assert (start.line, start.character) == (2, 8)


def test_advance_counts_units_of_the_encoding_and_every_line_break():
    assert advance(3, 4, "😀x", "utf-16") == (3, 7)
    assert advance(3, 4, "😀x", "utf-8") == (3, 9)
    assert advance(3, 4, "a\r\nbc\rd😀", "utf-16") == (5, 3)


def test_partial_lengths_are_utf16_units_and_past_the_end_is_refused():
    assert utf16_prefix("😀ab", 2) == 1 and utf16_prefix("😀ab", 3) == 2
    assert utf16_prefix("😀ab", 1) == 0  # inside the pair: rounded down
    assert utf16_prefix("😀ab", 4) == 3 and utf16_prefix("😀ab", 5) is None


def test_kept_characters_are_those_still_there_in_order():
    assert kept_characters("compute(a, b)", "compute(a, b)") == 13
    assert kept_characters("compute(a, b)", "compute(") == 8
    assert kept_characters("compute(a, b)", "") == 0
    assert kept_characters("abc", "xaxbxcx") == 3
