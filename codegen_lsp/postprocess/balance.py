"""Never end inside a bracket or string that the completion itself opened, when a cleaner cut exists.

A completion that runs out of tokens halfway through a call or a string would leave the file broken;
the last line end where everything the completion opened is closed again is a better place to stop.
"""

from __future__ import annotations

from ..context import CursorContext
from .lexer import scan


def cut_unclosed(text: str, ctx: CursorContext) -> str:
    result = scan(text, ctx.language, ctx.line_prefix)
    if result.depth <= 0 and not result.in_literal:
        return text
    for offset, depth, in_literal in reversed(result.line_ends):
        if depth <= 0 and not in_literal and text[:offset].strip():
            return text[:offset]
    # Ran out of tokens inside a call or a string that no line end closes: stop after the last complete piece.
    ends = [end for end in result.balanced_ends if text[end - 1].isalnum() or text[end - 1] in "_)]}\"'`"]
    return text[: ends[-1]] if ends else text
