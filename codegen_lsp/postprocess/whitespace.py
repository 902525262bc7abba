"""Whitespace: no trailing spaces, nothing that is only whitespace."""

from __future__ import annotations

from ..context import CursorContext
from .fit import spaced_from


def trim(text: str, ctx: CursorContext) -> str:
    # `sum(bar, ¦baz)`, `await ¦compute()`, `<Item key={id} ¦/>`: the space before the code after the cursor
    separated = ctx.code_after and (text.endswith(", ") or text.endswith(" ") and spaced_from(ctx.line_suffix))
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if not text.strip():
        return ""
    return text + " " if separated else text


def no_double_space(text: str, ctx: CursorContext) -> str:
    """`return ¦` with the model's ` this;` is `return this;`: after a space, the completion's own leading
    spaces on the cursor's line would make two."""
    if ctx.line_prefix.strip() and ctx.line_prefix[-1:] in (" ", "\t") and text[:1] in (" ", "\t"):
        return text.lstrip(" \t")
    return text
