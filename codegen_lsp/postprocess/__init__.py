"""Post-processing: a chain of small pure filters from the model's raw text to what the editor shows.

Each filter takes (text, context) and returns text. `CUTS` decide where the completion ends, `SHAPES` tidy
what is kept; between them, inside an auto-closed pair (`foo(¦)`), the completion is split where it writes
the closer (see `pairs`). `ends_here` tells the engine, while it is still generating, that the filters would
cut everything after the text so far, so that no token is decoded that the user would never see.
"""

from __future__ import annotations

from ..context import CursorContext
from . import balance, fit, indentation, pairs, past_closers, repetition, scope, suffix, syntax, whitespace, wrappers
from .pairs import Completion

CUTS = (
    wrappers.strip_wrappers,
    whitespace.no_double_space,
    repetition.cut_repetition,
    scope.cut_to_scope,
    fit.fit_before_code,
    suffix.drop_repeated_suffix_lines,
)
SHAPES = (
    suffix.drop_duplicated_closers,
    balance.cut_unclosed,
    indentation.match_indentation,  # before the parser judges: a tab file with the model's spaces would not parse
    syntax.prefer_parsable,
    whitespace.trim,
)
FILTERS = CUTS + SHAPES

__all__ = ["Completion", "FILTERS", "completion_for", "ends_here", "postprocess"]


def completion_for(raw: str, ctx: CursorContext) -> Completion | None:
    """What the editor shows for the model's raw text at this cursor; None when nothing is worth showing."""
    text = _apply(CUTS, raw, ctx)
    if not text:
        return None
    if not ctx.auto_closed:
        text = _apply(SHAPES, text, ctx)
        return Completion(text) if text else None
    closing = pairs.split(text, ctx)
    inside = _apply(SHAPES, closing.inside, ctx)
    within = pairs.assemble(inside, closing, closing.inside, ctx) if inside else None
    past = past_closers.split(text, ctx)
    return _past_closers(past, within, ctx) if past is not None and past.shown else within


def _past_closers(past: past_closers.PastClosers, within: Completion | None, ctx: CursorContext) -> Completion | None:
    """The model's first line through the closers, and the block it opens judged as a block at a line end; the
    completion within the closers (`within`) stays the insertion for clients that cannot replace."""
    insertion = within.insert_text if within is not None else ""
    head = past.head
    if past.block is not None:
        body = completion_for(past.rest, past.block)
        if body is None or syntax.parses_with(body.text, past.block) is False:
            return within  # a block opener with no body (or a broken one): the part inside the closers is safer
        head += body.text
    return Completion(head, replace=len(ctx.line_suffix.rstrip("\r")), insert_text=insertion)


def postprocess(raw: str, ctx: CursorContext) -> str:
    """The completion as a plain insertion at the cursor ("" when there is nothing to show)."""
    shown = completion_for(raw, ctx)
    return shown.insert_text if shown is not None else ""


def _apply(filters, text: str, ctx: CursorContext) -> str:
    for apply in filters:
        text = apply(text, ctx)
        if not text:
            return ""
    return text


def ends_here(raw: str, ctx: CursorContext) -> bool:
    """True when the completion is already complete: more tokens would be cut anyway."""
    if ctx.code_after and "\n" in raw:
        return True  # only the first line can fit before the code after the cursor
    if wrappers.closed(raw, ctx):
        return True
    return scope.scope_end(wrappers.strip_wrappers(raw, ctx), ctx) is not None
