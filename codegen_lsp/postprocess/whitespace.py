"""Whitespace: no trailing spaces, nothing that is only whitespace."""

from __future__ import annotations

from ..context import CursorContext


def trim(text: str, ctx: CursorContext) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    return text if text.strip() else ""
