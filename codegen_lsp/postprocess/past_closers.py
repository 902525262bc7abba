"""Completions that go on past the editor's closers: a signature into its body, a call with text between closers.

Typing `def area(` in an editor that closes pairs leaves `def area(¦)`; the model writes `r) -> float:` and then
the body. When the rest of the cursor's line is only closers (brackets and quotes, perhaps then a `;` the user
typed) and the model's first line passes each bracket and quote in order, that line may replace them:
- when it opens a block (`r) -> float:`, `) {` at `if (a > b¦)`) and the user typed nothing after the pair, the
  whole line is taken and the body follows as a block completion at a line end would: the same filters judge it
  in the context after that first line, with the usual scope end;
- otherwise the completion ends with that line, keeping what the model wrote between the closers (`", total);`
  at `log("total: ¦")`) but after the last one only a separator: `x = (1 + 2)` is a safer offer than
  `x = (1 + 2) * 3`, and a one-line pair (`print("¦")`) still ends its line.

Clients that cannot replace get the insertion that fits before the closers (the text before the first one).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import BLOCK, BLOCK_OPENERS, PAIR_CLOSERS, CursorContext
from ..languages import Scoping, language
from .lexer import scan

SEPARATORS = " \t;,"


@dataclass(frozen=True)
class PastClosers:
    """The model's first line split where it passes the closers, and what follows it."""

    inside: str  # the text before the first closer (what an insertion before the closers can show)
    head: str  # the whole first line: the inside, the closers with the model's text between and after them
    rest: str  # what the model wrote after the first line ("\n" and the body), unfiltered
    block: CursorContext | None  # the context at the end of the first line when that line opens a block
    adds: bool  # the first line writes more than the closers (and a separator): else the pair filter shows it

    @property
    def shown(self) -> bool:
        return self.block is not None or self.adds


def split(text: str, ctx: CursorContext) -> PastClosers | None:
    """The first line when it passes all the editor's closers; None otherwise (the closers are not only brackets
    and quotes, the model stops before them or writes others)."""
    closers = ctx.auto_closed
    pair_closers = closers.rstrip(SEPARATORS + ":")
    typed = closers[len(pair_closers) :].strip()  # what the user typed after the pair (`");`): no block follows
    if not pair_closers or not set(pair_closers) <= PAIR_CLOSERS | set(" \t"):
        return None
    end = text.find("\n")
    end = len(text) if end < 0 else end
    result = scan(text[:end], ctx.language, ctx.line_prefix)
    start = result.first_outer_close
    if start is None or result.in_literal:
        return None
    low, marks = 0, []
    for offset, _, depth in result.closes:
        if depth < low:
            low = depth
            marks.append(offset)
    if result.outer_quote_close is not None:
        marks.append(result.outer_quote_close)
    wanted = [ch for ch in closers if ch in PAIR_CLOSERS]
    if [text[offset] for offset in sorted(marks)] != wanted:
        return None
    head, block = text[:end].rstrip(), None
    if not typed and opens_block(ctx.line_prefix + head, text[end:], ctx):
        after = ctx.suffix[len(ctx.line_suffix) :]
        block = CursorContext(ctx.prefix + head, after, ctx.language, ctx.path, BLOCK)
    else:  # a line that ends here: after the last closer only a separator is taken (`(1 + 2) * 3` is not),
        last = max(marks) + 1  # and the one the user typed wins
        head = head[:last] + typed if typed or head[last:].strip(SEPARATORS) else head
    added = "".join(ch for offset, ch in enumerate(head[start:], start) if offset not in marks)
    return PastClosers(text[:start], head, text[end:], block, bool(added.strip(SEPARATORS + typed)))


def opens_block(line: str, rest: str, ctx: CursorContext) -> bool:
    """Does this line, completed, open a block? It ends with an opener (`:` `{` `=>`); in languages whose blocks
    end with a keyword (`function f(a)` ... `end`) the model's next line is indented deeper."""
    if line.rstrip().endswith(BLOCK_OPENERS):
        return True
    if language(ctx.language).scoping is not Scoping.KEYWORDS:
        return False
    following = next((candidate for candidate in rest.split("\n") if candidate.strip()), "")
    return len(following.expandtabs(4)) - len(following.expandtabs(4).lstrip()) > len(ctx.indent.expandtabs(4))
