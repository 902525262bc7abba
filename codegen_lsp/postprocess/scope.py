"""Cut the completion where the code it started in ends.

line mode: at the end of the first line that has content. block mode: at the first line that dedents
below the block's indentation (indentation languages) or at the brace that closes the block it opened
(brace languages), and in either mode at a blank-line-separated new top-level definition.
"""

from __future__ import annotations

from ..context import LINE, CursorContext

INDENT_LANGUAGES = {"python", "yaml", "coffeescript", "nim", "haskell", "fsharp"}
OPENING, CLOSING = "([{", ")]}"


def cut_to_scope(text: str, ctx: CursorContext) -> str:
    end = scope_end(text, ctx)
    return text if end is None else text[:end]


def scope_end(text: str, ctx: CursorContext) -> int | None:
    """Offset in `text` where the completion should end, or None when it has not ended yet."""
    if ctx.mode == LINE:
        return _line_end(text)
    if ctx.language in INDENT_LANGUAGES:
        return _dedent_end(text, ctx)
    return _brace_end(text, ctx)


def _line_end(text: str) -> int | None:
    """The end of the first line with content (leading newlines: the cursor sat at a line's end)."""
    start = len(text) - len(text.lstrip("\n"))
    end = text.find("\n", start)
    return None if end < 0 else end


def _dedent_end(text: str, ctx: CursorContext) -> int | None:
    """The first complete line whose indentation drops below the block's."""
    block_indent = _block_indent(ctx)
    offset = 0
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if number > 0 and line.strip():
            indent = len(line) - len(line.lstrip(" \t"))
            if indent < block_indent:
                return max(offset - 1, 0)
        offset += len(line) + 1
    return None


def _block_indent(ctx: CursorContext) -> int:
    """Lines of the completion belong to the block while indented at least this much."""
    line = ctx.line_prefix
    if line.strip():
        current = len(ctx.indent)
        # after an opener (def f():) the body is deeper than the opener's line
        return current + 1 if line.rstrip().endswith(":") else current
    return len(line)  # an empty line inside a body: its indentation is the block's


def _brace_end(text: str, ctx: CursorContext) -> int | None:
    """Where the brace that closes the enclosing block is met (not kept: the suffix already has it)."""
    depth = 0
    in_string: str | None = None
    for i, ch in enumerate(text):
        if in_string:
            if ch == in_string and text[i - 1] != "\\":
                in_string = None
            continue
        if ch in "\"'`":
            in_string = ch
        elif ch in OPENING:
            depth += 1
        elif ch in CLOSING:
            depth -= 1
            if depth < 0:
                return _line_start_before(text, i)
            if depth == 0 and ch == "}" and _opened_block_here(ctx):
                return i + 1
    return None


def _opened_block_here(ctx: CursorContext) -> bool:
    return not ctx.line_prefix.rstrip().endswith("{")


def _line_start_before(text: str, index: int) -> int:
    """Cut before a closing brace: keep the text up to the end of the previous line when the brace
    starts its own line, else up to the brace."""
    line_start = text.rfind("\n", 0, index) + 1
    if not text[line_start:index].strip():
        return max(line_start - 1, 0)
    return index
