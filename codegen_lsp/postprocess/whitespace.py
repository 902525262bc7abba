"""Whitespace: no trailing spaces, nothing that is only whitespace."""

from __future__ import annotations

from ..context import CursorContext


def trim(text: str, ctx: CursorContext) -> str:
    separated = ctx.code_after and text.endswith(", ")  # `sum(bar, ¦baz)`: the space before the next argument
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if not text.strip():
        return ""
    return text + " " if separated else text
