"""Prefer a cut that leaves the code around the cursor parsable.

The heuristic filters cut at scope ends and balanced brackets; a real parser then has the last word
(Python's own, or tree-sitter for the other languages when installed — see `parsers.py`). When the code
does not parse with the whole completion in it, the longest completion that ends at a line end and does
parse wins. When none parses, only the first logical line is shown if that parses, and nothing when it does
not while the code parses without the completion (the completion is what breaks it); when the code around the
cursor is broken anyway (the user is in the middle of writing it), the first logical line, unjudged. With no
parser available the completion is left as it is.
"""

from __future__ import annotations

from ..context import CursorContext
from .lexer import scan
from .parsers import parses

MAX_REGION_LINES = 400
MAX_DOCUMENT_CHARS = 200_000  # tree-sitter parses a whole document per candidate cut: keep that cheap
MAX_CUTS = 16
CONTINUATIONS = ("else", "elif", "except", "finally", "case")


def prefer_parsable(text: str, ctx: CursorContext) -> str:
    around = _around(ctx)
    if around is None:
        return text
    before, after = around
    whole = parses(before + text + after, ctx.language)
    if whole is None or whole:
        return text
    if "\n" not in text.strip("\n"):  # one line: nothing to cut, only to judge
        return "" if parses(before + after, ctx.language) else text
    ends = [i for i, ch in enumerate(text) if ch == "\n" and text[:i].strip()]
    for end in reversed(ends[-MAX_CUTS:]):
        if parses(before + text[:end] + after, ctx.language):
            return text[:end]
    first = _first_logical_line(text, ctx)
    if parses(before + first + after, ctx.language) or not parses(before + after, ctx.language):
        return first
    return ""


def parses_with(text: str, ctx: CursorContext) -> bool | None:
    """Does the code around the cursor parse with `text` at the cursor? None: no parser, or too much to parse."""
    around = _around(ctx)
    return None if around is None else parses(around[0] + text + around[1], ctx.language)


def _around(ctx: CursorContext) -> tuple[str, str] | None:
    """The code before and after the cursor that a parser judges (Python: the top-level statement around it)."""
    if ctx.language == "python":
        before, after = _region(ctx)
        return None if before.count("\n") + after.count("\n") > MAX_REGION_LINES else (before, after)
    if len(ctx.prefix) + len(ctx.suffix) > MAX_DOCUMENT_CHARS:
        return None
    return ctx.prefix, ctx.suffix


def _first_logical_line(text: str, ctx: CursorContext) -> str:
    """Up to the first line end where the completion has nothing open (its first statement or line)."""
    start = len(text) - len(text.lstrip("\n"))
    for offset, depth, in_literal in scan(text, ctx.language, ctx.line_prefix).line_ends:
        if offset > start and text[start:offset].strip() and depth <= 0 and not in_literal:
            return text[:offset]
    return text.split("\n", 1)[0] if text[:1] != "\n" else text


def _region(ctx: CursorContext) -> tuple[str, str]:
    """Python: the text of the top-level statement around the cursor, from the last line of the prefix that
    starts at column 0 to (not including) the next such line of the suffix."""
    prefix, suffix = ctx.prefix, ctx.suffix
    start = 0
    position = len(prefix) - len(ctx.line_prefix)
    while position > 0:
        line_start = prefix.rfind("\n", 0, position - 1) + 1
        if _starts_statement(prefix[line_start:position]):
            start = line_start
            break
        position = line_start
    if _starts_statement(ctx.line_prefix):
        start = len(prefix) - len(ctx.line_prefix)
    end = len(suffix)
    first_break = suffix.find("\n")
    offset = first_break + 1 if first_break >= 0 else len(suffix)
    while offset < len(suffix):
        line_end = suffix.find("\n", offset)
        line_end = len(suffix) if line_end < 0 else line_end
        if _starts_statement(suffix[offset:line_end]):
            end = offset
            break
        offset = line_end + 1
    return prefix[start:], suffix[:end]


def _starts_statement(line: str) -> bool:
    """A line at column 0 that begins a statement of its own (not `else:`, a closer or a string's text)."""
    if not line or line[0].isspace() or line.startswith(("#", ")", "]", "}", "'", '"')):
        return False
    word = line.split(None, 1)[0].rstrip(":")
    return word not in CONTINUATIONS
