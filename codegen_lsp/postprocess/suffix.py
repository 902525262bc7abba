"""Do not repeat what already follows the cursor."""

from __future__ import annotations

from ..context import PAIR_CLOSERS, CursorContext, leading_whitespace
from ..languages import Scoping, language
from .lexer import scan

# A following line this short (`}`, `)`, `pass`, `end`) is repeated legitimately; match it only together
# with the line after it.
SHORT_LINE = 4


def drop_repeated_suffix_lines(text: str, ctx: CursorContext) -> str:
    """Cut the completion where its lines start repeating the lines right after the cursor. A closing line
    (`}`, `);`) repeats the suffix's only at the same indentation and when the completion has left nothing
    open that it would close: otherwise it is the completion's own (the end of its `try` or getter)."""
    following_lines = [line for line in ctx.suffix.split("\n")[1:6] if line.strip()]
    following = [line.strip() for line in following_lines]
    if not following:
        return text
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    stripped[0] = (ctx.line_prefix + lines[0]).strip()
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    for i in range(len(lines)):
        if not stripped[i] or stripped[i] != following[0]:
            continue
        if _closing_line(stripped[i], ctx):
            line = (ctx.line_prefix + lines[0]) if i == 0 else lines[i]
            left_open = scan(text[: starts[i]], ctx.language, ctx.line_prefix).depth > 0
            if left_open or leading_whitespace(line) != leading_whitespace(following_lines[0]):
                continue
        if len(following[0]) <= SHORT_LINE and len(following) > 1:
            rest = [line for line in stripped[i + 1 :] if line]
            if rest and rest[0] != following[1]:
                continue
        return "\n".join(lines[:i])
    return text


KEYWORD_CLOSERS = ("end", "fi", "done", "esac")


def _closing_line(stripped: str, ctx: CursorContext) -> bool:
    """A line that only closes blocks (`}`, `});`, and `end` where keywords close blocks): it repeats the suffix's
    only when it closes the same block, which is where the indentation of the two lines tells."""
    if language(ctx.language).scoping is Scoping.KEYWORDS and stripped.rstrip(";") in KEYWORD_CLOSERS:
        return True
    return bool(stripped) and set(stripped) <= set(")]};,")


def drop_duplicated_closers(text: str, ctx: CursorContext) -> str:
    """With `)` or `"` already after the cursor, the completion stops where it would close them again:
    what follows that point belongs after them, where the cursor is not."""
    if not ctx.line_suffix.strip() or ctx.code_after:
        return text
    cut = scan(text, ctx.language, ctx.line_prefix).first_outer_close
    if cut is not None:
        return text[:cut]
    closers = ctx.line_suffix.strip()
    if set(closers) & PAIR_CLOSERS:
        return text  # a bracket the completion ends with is its own (the scan above found no outer close)
    kept = text.rstrip()
    return kept[: len(kept) - len(closers)] if kept.endswith(closers) else text  # `;` `:` `,` are not brackets
