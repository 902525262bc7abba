"""Cut the completion where the code it started in ends.

line mode: at the end of the first logical line (a line that leaves a bracket or string open goes on
until it is closed). block mode: at the first line that dedents
below the block's indentation (indentation languages, and those whose blocks close with `end`, `fi` ...)
or at the brace that closes the block it opened (brace languages); at top level, at a new definition
after a blank line.
"""

from __future__ import annotations

from ..context import LINE, CursorContext, leading_whitespace
from ..languages import Scoping, known, language
from . import pairs, past_closers
from .lexer import scan


def cut_to_scope(text: str, ctx: CursorContext) -> str:
    end = scope_end(text, ctx)
    return text if end is None else text[:end]


def scope_end(text: str, ctx: CursorContext) -> int | None:
    """Offset in `text` where the completion should end, or None when it has not ended yet."""
    if ctx.auto_closed:
        past = past_closers.split(text, ctx)
        if past is not None and past.block is not None and past.rest:
            end = scope_end(past.rest, past.block)
            return None if end is None else len(text) - len(past.rest) + end
        if past is not None and not past.rest.strip() and language(ctx.language).scoping is Scoping.KEYWORDS:
            return None  # `function f(a)`: whether a block follows shows on the next line
        return pairs.scope_end(text, ctx)
    if not known(ctx.language) and not ctx.line_suffix.strip():
        return _paragraph_end(text, ctx)
    if ctx.mode == LINE:
        return _line_end(text, ctx)
    if language(ctx.language).scoping is not Scoping.BRACES:  # `end` keywords dedent as indentation does
        return _dedent_end(text, ctx)
    return _brace_end(text, ctx)


MAX_CONTINUATION_LINES = 8


def _paragraph_end(text: str, ctx: CursorContext) -> int | None:
    """At a line end in a language we know nothing of (plain text, Markdown, a language missing from the table)
    nothing says that the next line is a new statement, nor where a block ends: the completion may go on over
    lines, to the brace that closes its block or to a blank line after its text, whichever comes first."""
    start = len(text) - len(text.lstrip("\n"))
    blank = text.find("\n\n", start)
    block = _dedent_end(text, ctx) if language(ctx.language).scoping is not Scoping.BRACES else _brace_end(text, ctx)
    ends = [end for end in (blank if blank >= 0 else None, block) if end is not None]
    return min(ends) if ends else None


def _line_end(text: str, ctx: CursorContext) -> int | None:
    """The end of the first line with content that closes what it opened (leading newlines: the cursor
    sat at a line's end); a bracket left open for more than a few lines ends at the first line instead."""
    start = len(text) - len(text.lstrip("\n"))
    first = None
    for offset, depth, in_literal in scan(text, ctx.language, ctx.line_prefix).line_ends:
        if offset < start or not text[start:offset].strip():
            continue
        if depth <= 0 and not in_literal:
            return offset
        first = offset if first is None else first
        if text.count("\n", first, offset) >= MAX_CONTINUATION_LINES:
            return first
    return None


def _dedent_end(text: str, ctx: CursorContext) -> int | None:
    """The first complete line whose indentation drops below the block's (lines inside an open bracket or
    string do not count: their indentation is free)."""
    block_indent = _block_indent(ctx)
    free = {offset + 1 for offset, depth, in_literal in scan(text, ctx.language, ctx.line_prefix).line_ends
            if depth > 0 or in_literal}
    offset = 0
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if number > 0 and line.strip() and offset not in free:
            indent = len(leading_whitespace(line))
            if indent < block_indent:
                return max(offset - 1, 0)
            if indent == 0 and number > 1 and not lines[number - 1].strip() and _has_content(lines[:number]):
                return len("\n".join(lines[: number - 1]))  # at top level: a new definition after a blank line
        offset += len(line) + 1
    return None


def _has_content(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def _block_indent(ctx: CursorContext) -> int:
    """Lines of the completion belong to the block while indented at least this much."""
    line = ctx.line_prefix
    if line.strip():
        current = len(ctx.indent)
        # after an opener (def f():) the body is deeper than the opener's line
        return current + 1 if line.rstrip().endswith(":") else current
    return len(line)  # an empty line inside a body: its indentation is the block's


def _brace_end(text: str, ctx: CursorContext) -> int | None:
    """Where the brace that closes the enclosing block is met (not kept when the suffix already has it; kept,
    with its line, when nothing after the cursor closes that block: the end of a file being written)."""
    result = scan(text, ctx.language, ctx.line_prefix)
    comment = _dedented_comment(text, ctx)
    for index, bracket, depth in result.closes:
        if comment is not None and comment < index:
            return comment
        if depth < 0:
            if bracket == "}" and depth == -1 and not _suffix_closes(ctx):
                if _continues(text, index):
                    continue  # `} else {`: the block's statement goes on
                return _after_closer(text, index)
            return _line_start_before(text, index)
        if depth == 0 and bracket == "}" and _opened_block_here(ctx):
            if not text[index + 1 :].strip():
                return None  # what follows the brace (`,` `else` `catch`) is not written yet
            if not _continues(text, index):
                return _after_closer(text, index)
    return comment


CONTINUATION_WORDS = ("else", "catch", "finally", "while", "except")


def _continues(text: str, index: int) -> bool:
    """`} else {`, `} catch (e) {`, `} while (x);`: the statement goes on after this brace (or not yet known)."""
    rest = text[index + 1 :].lstrip(" \t")
    if not rest or rest.startswith("\n") and not rest.strip():
        return False
    following = rest.lstrip()
    return following.startswith(CONTINUATION_WORDS)


def _after_closer(text: str, index: int) -> int | None:
    """Just after a closing brace, with the separator that ends an element or statement (`},` `};`); None
    while nothing follows the brace yet."""
    if not text[index + 1 :].strip():
        return None
    return index + 2 if text[index + 1 : index + 2] in (",", ";") and index + 1 < len(text) else index + 1


SUFFIX_WINDOW = 20_000  # characters of the suffix read for its closing brace (asked while decoding)


def _suffix_closes(ctx: CursorContext) -> bool:
    """Does the text after the cursor close the block the cursor is in? Its first closer of a brace opened before
    the cursor does, unless that closer starts a line indented less than the line that opened the block: then it
    closes an outer one (the function's `}` below an `if` whose `}` is not written yet)."""
    suffix = ctx.suffix[:SUFFIX_WINDOW]
    close = scan(suffix, ctx.language).first_unmatched_close
    if close is None:
        return False
    line_start = suffix.rfind("\n", 0, close) + 1
    if line_start == 0 or suffix[line_start:close].strip():
        return True  # on the cursor's line, or after code: no indentation to judge by
    window = ctx.prefix[-SUFFIX_WINDOW:]
    opened = scan(window, ctx.language).unclosed
    if not opened:
        return True
    opener_line = window[window.rfind("\n", 0, opened[-1]) + 1 :]
    return len(suffix[line_start:close].expandtabs(4)) >= len(leading_whitespace(opener_line).expandtabs(4))


def _dedented_comment(text: str, ctx: CursorContext) -> int | None:
    """A comment line indented less than the block (brace languages): it belongs to what comes after."""
    block_indent = _block_indent(ctx)
    if not block_indent:
        return None
    record = language(ctx.language)
    markers = record.line_comments + tuple(opener for opener, _ in record.block_comments)
    if not markers:
        return None
    offset = 0
    for number, line in enumerate(text.split("\n")):
        stripped = line.strip()
        if number > 0 and stripped.startswith(markers) and len(leading_whitespace(line)) < block_indent:
            return max(offset - 1, 0)
        offset += len(line) + 1
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
