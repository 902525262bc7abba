"""Positions that follow a document's edits, and what is measured of accepted text: the pieces of acceptance.py
that know the position encodings (a `Tracked` position moves with didChange; `kept_characters` is GitHub's
"accepted and kept characters"; `utf16_prefix` reads an `acceptedLength` in UTF-16 code units)."""

from __future__ import annotations

import difflib

from lsprotocol import types

from .lsp.documents import LINE_BREAK, UNITS_PER_CHAR

MAX_REGION_CHARS = 20_000  # compare at most this much of the document with an accepted text


# -- positions that follow edits ----------------------------------------------------------------------------
class Tracked:
    """An LSP position (in the client's position encoding) kept up to date through didChange. Text inserted exactly
    here goes after it; an edit that swallows it leaves it at the edit's start, or, for the end of a region
    (`is_end`), after the edit's new text."""

    __slots__ = ("line", "character", "is_end", "__weakref__")

    def __init__(self, line: int, character: int, is_end: bool = False) -> None:
        self.line, self.character, self.is_end = line, character, is_end

    def position(self) -> types.Position:
        return types.Position(line=self.line, character=self.character)


def advance(line: int, character: int, text: str, encoding: str) -> tuple[int, int]:
    """The position after `text` inserted at (line, character)."""
    width = UNITS_PER_CHAR.get(encoding, UNITS_PER_CHAR[types.PositionEncodingKind.Utf16])
    breaks = list(LINE_BREAK.finditer(text))
    if not breaks:
        return line, character + sum(width(c) for c in text)
    return line + len(breaks), sum(width(c) for c in text[breaks[-1].end():])


def move(point: Tracked, start: types.Position, end: types.Position, text: str, encoding: str,
         new_end: tuple[int, int] | None = None) -> None:
    """Move `point` for the edit replacing start..end with `text` (`new_end`: where that text ends, if known)."""
    p, a, b = (point.line, point.character), (start.line, start.character), (end.line, end.character)
    if b < a:
        a, b = b, a
    if p <= a:
        return
    new_end = new_end or advance(a[0], a[1], text, encoding)
    if p <= b:  # inside the replaced range
        point.line, point.character = new_end if point.is_end else a
        return
    if p[0] == b[0]:
        point.line, point.character = new_end[0], new_end[1] + (p[1] - b[1])
    else:
        point.line = p[0] + new_end[0] - b[0]



def kept_characters(accepted: str, now: str) -> int:
    """Characters of `accepted` still in `now`, in order."""
    if accepted == now:
        return len(accepted)
    matcher = difflib.SequenceMatcher(None, accepted, now[:MAX_REGION_CHARS], autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def utf16_prefix(text: str, units: int) -> int | None:
    """Code points of `text` in its first `units` UTF-16 code units (rounded down inside a pair); None past the end."""
    seen = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if seen + width > units:
            return index
        seen += width
    return len(text) if units <= seen else None
