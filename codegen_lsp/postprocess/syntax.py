"""Python: prefer a cut that leaves the code around the cursor parsable.

The heuristic filters cut at scope ends and balanced brackets; Python's own parser then has the last
word. When the top-level statement around the cursor does not parse with the whole completion in it,
the longest completion that ends at a line end and does parse wins. When none parses (the user is in
the middle of writing something broken) the completion is left as it is.
"""

from __future__ import annotations

import ast
import warnings

from ..context import CursorContext

MAX_REGION_LINES = 400


def prefer_parsable(text: str, ctx: CursorContext) -> str:
    if ctx.language != "python" or "\n" not in text.strip("\n"):
        return text
    before, after = _region(ctx)
    if before.count("\n") + after.count("\n") > MAX_REGION_LINES or _parses(before + text + after):
        return text
    ends = [i for i, ch in enumerate(text) if ch == "\n" and text[:i].strip()]
    for end in reversed(ends):
        if _parses(before + text[:end] + after):
            return text[:end]
    return text


def _region(ctx: CursorContext) -> tuple[str, str]:
    """The text of the top-level statement around the cursor: from the last line of the prefix that starts
    at column 0 to (not including) the next such line of the suffix."""
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


CONTINUATIONS = ("else", "elif", "except", "finally", "case")


def _starts_statement(line: str) -> bool:
    """A line at column 0 that begins a statement of its own (not `else:`, a closer or a string's text)."""
    if not line or line[0].isspace() or line.startswith(("#", ")", "]", "}", "'", '"')):
        return False
    word = line.split(None, 1)[0].rstrip(":")
    return word not in CONTINUATIONS


def _parses(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not our business
            ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True
