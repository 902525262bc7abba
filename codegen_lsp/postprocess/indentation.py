"""Indent the completion the way the document is indented: tabs or spaces, the same width, on its grid.

The model writes the indentation it saw most in training (four spaces, for CodeGen); in a file indented
with tabs or two spaces that would be a mixed-indentation error (Python) or an eyesore (everything else).
The unit comes from the evidence there is: the document's own when it has indented lines, else the
completion's (a file with no indented lines yet keeps the model's two spaces or tabs). Levels are counted
from the cursor line's indentation, which is the document's own, one distinct depth at a time: a line one
column off the model's grid joins the level it is closest to from above. Lines inside a bracket or string the
completion opened keep their alignment (only shifted with the line that opened it). At a line start, spaces
the model put before the first line's code that do not make a whole level are stray and dropped.
"""

from __future__ import annotations

from ..context import CursorContext, indent_unit, leading_whitespace
from .lexer import scan


def match_indentation(text: str, ctx: CursorContext) -> str:
    lines = text.split("\n")
    lines[0] = _first_line(lines[0], ctx)
    if len(lines) < 2:
        return lines[0]
    unit = indent_unit(ctx.prefix + ctx.suffix, default="") or _cursor_unit(ctx) or _model_unit(lines, ctx)
    if not unit:
        return "\n".join(lines)
    tab_width = 4 if unit == "\t" else len(unit)
    base = ctx.indent
    if not ctx.line_prefix.strip():  # at a line start the first line brings its own depth: the rest follow it
        base = leading_whitespace(ctx.line_prefix + lines[0])
    base_columns = _columns(base, tab_width)
    columns_of_lines = [_columns(leading_whitespace(line), tab_width) for line in lines[1:] if line.strip()]
    step = _model_step(columns_of_lines, base_columns)
    if step is None:
        step = tab_width
    free = _continuation_lines(text, ctx)
    out = lines[:1]
    stack = [base_columns]  # the completion's depths, in columns, from the cursor line's down
    shift = 0  # how far the last re-indented line moved: continuation lines move with it
    for number, line in enumerate(lines[1:], 1):
        leading = leading_whitespace(line)
        columns = _columns(leading, tab_width)
        if not line.strip():
            out.append(line)
            continue
        if number in free:
            out.append(" " * max(0, columns + shift) + line[len(leading) :] if shift else line)
            continue
        if columns < base_columns:
            stack = [base_columns]
            new = unit * round(columns / step)
        else:
            while columns < stack[-1]:
                stack.pop()
            if columns > stack[-1] and (len(stack) < 2 or columns - stack[-1] >= 2 or columns - stack[-1] >= step):
                stack.append(columns)
            new = base + unit * (len(stack) - 1)
        shift = _columns(new, tab_width) - columns
        out.append(new + line[len(leading) :])
    return "\n".join(out)


def _first_line(line: str, ctx: CursorContext) -> str:
    """At a line start the editor's indentation is the line's: the model's leading spaces on top of it are stray.
    At column 0 the model's indentation is the line's: put on the document's grid (a line one column past a level
    joins it, else the next level up), and never dropped inside a block (there it is at least the block's level)."""
    if ctx.line_prefix.strip() or not line.strip():
        return line
    leading = leading_whitespace(line)
    if ctx.line_prefix or not leading:
        return line[len(leading) :]  # the line already has its indentation
    unit = indent_unit(ctx.prefix + ctx.suffix, default="    ")
    width, columns = _columns(unit, 4), _columns(leading, 4)
    level = columns // width if columns % width <= 1 else -(-columns // width)
    if not level:
        level = _block_level(ctx.prefix, width)
    return unit * level + line[len(leading) :]


def _block_level(prefix: str, width: int) -> int:
    """The level of a line after `prefix`: the last line's with code, one deeper after an opener (`:` `{`)."""
    above = next((line for line in reversed(prefix.split("\n")[:-1]) if line.strip()), "")
    level = _columns(leading_whitespace(above), 4) // width
    return level + 1 if above.rstrip().endswith((":", "{", "(", "[")) else level


def _cursor_unit(ctx: CursorContext) -> str:
    """With no indented line of code in the document, the cursor line's own indentation is one level when the
    line above it is not indented (the first line of a body)."""
    if not ctx.indent:
        return ""
    above = [line for line in ctx.prefix.split("\n")[:-1] if line.strip()]
    return ctx.indent if above and not above[-1][:1].isspace() else ""


def _continuation_lines(text: str, ctx: CursorContext) -> set[int]:
    """Numbers of the lines that start inside a bracket or string the completion opened."""
    result = scan(text, ctx.language, ctx.line_prefix)
    return {
        number
        for number, ((_, _, in_literal), parens) in enumerate(zip(result.line_ends, result.open_parens), 1)
        if parens > 0 or in_literal
    }


def _model_unit(lines: list[str], ctx: CursorContext) -> str:
    """The completion's own unit: a tab when its indented lines use tabs, else its smallest step in spaces."""
    indented = [leading_whitespace(line) for line in lines[1:] if line.strip() and leading_whitespace(line)]
    if indented and sum(lead.startswith("\t") for lead in indented) * 2 > len(indented):
        return "\t"
    step = _model_step([len(lead.expandtabs(4)) for lead in indented], len(ctx.indent.expandtabs(4)))
    return " " * step if step else ""



def _columns(leading: str, tab_width: int) -> int:
    return len(leading.expandtabs(tab_width))


def _model_step(columns: list[int], base_columns: int) -> int | None:
    """The completion's indentation step: its smallest increase of two or more columns between lines."""
    increases = [b - a for a, b in zip([base_columns, *columns], columns) if b - a >= 2]
    return min(increases) if increases else None
