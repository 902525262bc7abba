"""Indent the completion the way the document is indented: tabs or spaces, and the same width.

The model writes the indentation it saw most in training (four spaces, for CodeGen); in a file indented
with tabs or two spaces that would be a mixed-indentation error (Python) or an eyesore (everything else).
Levels are counted from the cursor line's indentation, which is the document's own.
"""

from __future__ import annotations

from ..context import CursorContext, leading_whitespace


def match_indentation(text: str, ctx: CursorContext) -> str:
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    unit = ctx.indent_unit
    tab_width = 4 if unit == "\t" else len(unit)
    base = ctx.indent
    base_columns = _columns(base, tab_width)
    step = _model_step([_columns(leading_whitespace(line), tab_width) for line in lines[1:] if line.strip()], base_columns)
    if step is None:
        step = tab_width
    out = lines[:1]
    for line in lines[1:]:
        leading = leading_whitespace(line)
        columns = _columns(leading, tab_width)
        if not line.strip():
            out.append(line)
        elif columns < base_columns:
            levels, extra = divmod(columns, step)
            out.append(unit * levels + " " * extra + line[len(leading) :])
        else:
            levels, extra = divmod(columns - base_columns, step)
            out.append(base + unit * levels + " " * extra + line[len(leading) :])
    return "\n".join(out)


def _columns(leading: str, tab_width: int) -> int:
    return len(leading.expandtabs(tab_width))


def _model_step(columns: list[int], base_columns: int) -> int | None:
    """The completion's indentation step: its smallest increase of two or more columns between lines."""
    increases = [b - a for a, b in zip([base_columns, *columns], columns) if b - a >= 2]
    return min(increases) if increases else None
