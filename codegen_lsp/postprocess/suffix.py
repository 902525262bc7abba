"""Do not repeat what already follows the cursor."""

from __future__ import annotations

from ..context import CursorContext


def drop_repeated_suffix_lines(text: str, ctx: CursorContext) -> str:
    """Cut the completion where its lines start repeating the lines right after the cursor."""
    following = [line.strip() for line in ctx.suffix.split("\n")[1:4] if line.strip()]
    if not following:
        return text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() and lines[i].strip() == following[0]:
            return "\n".join(lines[:i])
    return text


def drop_duplicated_closers(text: str, ctx: CursorContext) -> str:
    """With `)` or `"` already after the cursor, a completion that ends in them must not add them again."""
    closers = ctx.line_suffix.strip()
    if not closers:
        return text
    first, newline, rest = text.partition("\n")
    stripped = first.rstrip()
    if stripped.endswith(closers):
        first = stripped[: len(stripped) - len(closers)]
    return first + newline + rest
