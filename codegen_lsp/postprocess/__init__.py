"""Post-processing: a chain of small pure filters from the model's raw text to what the editor shows.

Each filter takes (text, context) and returns text; `FILTERS` is the order they run in. `ends_here`
tells the engine, while it is still generating, that the filters would cut everything after the text so
far, so that no token is decoded that the user would never see.
"""

from __future__ import annotations

from ..context import CursorContext
from . import balance, fit, indentation, repetition, scope, suffix, syntax, whitespace

FILTERS = (
    repetition.cut_repetition,
    scope.cut_to_scope,
    fit.fit_before_code,
    suffix.drop_repeated_suffix_lines,
    suffix.drop_duplicated_closers,
    balance.cut_unclosed,
    syntax.prefer_parsable,
    indentation.match_indentation,
    whitespace.trim,
)


def postprocess(raw: str, ctx: CursorContext) -> str:
    text = raw
    for apply in FILTERS:
        text = apply(text, ctx)
        if not text:
            return ""
    return text


def ends_here(raw: str, ctx: CursorContext) -> bool:
    """True when the completion is already complete: more tokens would be cut anyway."""
    if ctx.code_after and "\n" in raw:
        return True  # only the first line can fit before the code after the cursor
    return scope.scope_end(raw, ctx) is not None
