"""With code after the cursor on its line, complete only what fits before it.

`foo(|, b)` may become `foo(a|, b)`, never `foo(a, b)|, b)`: the completion keeps one line, ends where it
starts repeating the code after the cursor, and ends before it closes a bracket that it did not open
(that bracket is the suffix's). Before a word right after `(` or `,` (`sum(¦baz)`) the completion is the
arguments that go before it, ending with their separator: `sum(bar, ¦baz)`.
"""

from __future__ import annotations

from ..context import CursorContext, before_argument
from .lexer import scan

SPACED = ("/>",)  # code after the cursor that the model's own space before it stays in front of


def spaced_from(line_suffix: str) -> bool:
    """Code after the cursor that a space the completion ends with keeps apart from it: a word (`await ¦run()`)
    or the end of a markup tag (`<Item key={id} ¦/>`)."""
    return line_suffix[:1].isalnum() or line_suffix[:1] == "_" or line_suffix.startswith(SPACED)


def fit_before_code(text: str, ctx: CursorContext) -> str:
    if not ctx.code_after:
        return text
    text = text.split("\n", 1)[0]
    overlap = _suffix_overlap(text, ctx.line_suffix)
    if overlap is not None:
        spaced = text[overlap:].startswith(" ") and text[:overlap].strip() and spaced_from(ctx.line_suffix)
        text = text[:overlap] + (" " if spaced else "")  # `<Item key={id} />`: the model's space before `/>`
    unmatched = scan(text, ctx.language, ctx.line_prefix).first_unmatched_close
    if unmatched is not None:
        text = text[:unmatched]
    if before_argument(ctx.line_prefix, ctx.line_suffix) and text.strip():
        body = text.rstrip().rstrip(",").rstrip()
        return body + ", " if body and scan(body, ctx.language, ctx.line_prefix).depth == 0 else ""
    return text


def _suffix_overlap(text: str, line_suffix: str) -> int | None:
    """The earliest offset from which the completion's tail is the start of the code after the cursor (or
    that code's start, at least a few characters of it)."""
    code = line_suffix.strip()
    if not code:
        return None
    for i in range(len(text)):
        tail = text[i:].rstrip()
        if not tail.strip():
            return i
        if code.startswith(tail.lstrip()) and (len(tail.strip()) >= 2 or tail.strip() == code):
            return i
        if tail.lstrip().startswith(code):
            return i
    return None
