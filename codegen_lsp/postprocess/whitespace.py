"""Whitespace: no trailing spaces, nothing that is only whitespace."""

from __future__ import annotations

from ..context import CursorContext


def trim(text: str, ctx: CursorContext) -> str:
    # `sum(bar, ¦baz)`, `<Item key={id} ¦/>`: the space before the code after the cursor
    separated = ctx.code_after and text.endswith(" ") and not ctx.line_suffix[:1].isspace()
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if not text.strip():
        return ""
    return text + " " if separated else text
