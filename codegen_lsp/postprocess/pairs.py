"""Auto-closed pairs: the closer is already after the cursor, and the model writes it again.

VS Code closes brackets and quotes as they are opened, and so do most Neovim setups, so the cursor usually sits
at `foo(¦)`, `"¦"`, `{¦}`. The model never saw those closers as typed text: it writes the inside and then the
closer itself, often with what follows it (`"abc";`). The completion is split where it first closes something
it did not open:
- the inside is shaped by the usual filters;
- the closing tail is kept as far as its closers are the ones already there, in order (`)` for `)`; for `]]`
  also what the model wrote between them: `], [3, 4]]`), with a separator (`;` `,`) at the line's end;
  closers it did not write are added back, so each closer ends up in the document exactly once.
Between an opener and its closer (`{¦}`) a body of several lines gets the closer on a line of its own, at the
opener line's indentation, unless its last line starts with a closer of its own (`setTimeout(() => {...}, 1000)`:
the pair's `)` follows the `}, 1000`).

The result replaces the closers (from the cursor to the end of the line) only when that differs from inserting
before them; a plain insertion shows and applies the same in every client, so it is preferred.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import PAIR_CLOSERS, CursorContext
from .lexer import scan

SEPARATORS = set(";,")
MAX_LINE_PAIR_LINES = 8  # a call's arguments may run over a few lines; past that, one line is safer


@dataclass(frozen=True)
class Completion:
    """What the editor shows: `text` replaces the `replace` characters after the cursor on its line.
    `insert_text` is the same completion as a plain insertion at the cursor, for clients that cannot
    replace (it keeps the closers that are there and drops what the model wrote after them)."""

    text: str
    replace: int = 0
    insert_text: str = ""

    def __post_init__(self) -> None:
        if self.replace == 0:
            object.__setattr__(self, "insert_text", self.text)

    def insertion_only(self) -> "Completion":
        return Completion(self.insert_text)


@dataclass(frozen=True)
class Closing:
    """Where a completion first closes what it did not open: the text before that point, the rest of that
    line (the closing tail) and the offsets in the tail of each closer of something opened before the cursor."""

    inside: str
    tail: str = ""
    marks: tuple[int, ...] = ()


def scope_end(text: str, ctx: CursorContext) -> int | None:
    """Inside a pair the completion ends with the line on which it writes the closer; a one-line pair
    (arguments, a string) that runs on for several lines without closing ends with its first line."""
    result = scan(text, ctx.language, ctx.line_prefix)
    close = result.first_outer_close
    if close is not None:
        end = text.find("\n", close)
        return None if end < 0 else end
    if ctx.block_pair:
        return None
    first = text.find("\n", len(text) - len(text.lstrip("\n")))
    if first >= 0 and (_in_one_line_literal(ctx) or text.count("\n", first) >= MAX_LINE_PAIR_LINES):
        return first  # a one-line string cannot go on; arguments that never close are not worth showing
    return None


def split(text: str, ctx: CursorContext) -> Closing:
    result = scan(text, ctx.language, ctx.line_prefix)
    start = result.first_outer_close
    if start is None:
        return Closing(text)
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    outer = [offset for offset, _, depth in _new_lows(result.closes)]
    if result.outer_quote_close is not None:
        outer.append(result.outer_quote_close)
    marks = tuple(sorted(offset - start for offset in outer if start <= offset < end))
    return Closing(text[:start], text[start:end], marks)


def _new_lows(closes: list[tuple[int, str, int]]):
    """The closes that reach a new lowest depth: each closes one more bracket opened before the text."""
    low = 0
    for offset, bracket, depth in closes:
        if depth < low:
            low = depth
            yield offset, bracket, depth


def assemble(inside: str, closing: Closing, raw_inside: str, ctx: CursorContext) -> Completion:
    """The shown completion from its shaped inside and the model's closing tail."""
    closers = ctx.auto_closed
    last_line = inside.split("\n")[-1]
    if ctx.block_pair and "\n" in inside and last_line.strip():
        if last_line.startswith(ctx.indent + last_line.strip()[:1]) and last_line.strip()[0] in ")]}":
            joint = gap = ""  # the body ends at the opener's indentation with its own closer (`}, 1000`): join it
        else:
            joint = gap = "\n" + ctx.indent  # a body of lines: the closer on its own line, at the opener's indentation
    elif closing.tail and "\n" in raw_inside and not raw_inside.split("\n")[-1].strip() and inside.strip():
        joint = gap = "\n" + ctx.indent  # the model put the closer on a line of its own: so does the result
    else:
        last_line = raw_inside.split("\n")[-1]
        gap = last_line[len(last_line.rstrip(" \t")) :] if last_line.strip() else ""  # `{ x }` keeps its space
        gap = gap or closers[: len(closers) - len(closers.lstrip())]
        joint = "" if closers[:1].isspace() else gap  # `{ a: 1, ¦ }`: the closers there bring their own space
    insertion = inside + joint
    written = _closing_text(closing, closers)
    if written == closers:
        return Completion(insertion)
    return Completion(inside + gap + written.lstrip(" \t"), replace=len(closers), insert_text=insertion)


def _closing_text(closing: Closing, closers: str) -> str:
    """The closers as the completion writes them: the model's tail while its closers are the ones after the
    cursor, in order, then those it did not write."""
    wanted = [(index, ch) for index, ch in enumerate(closers) if ch in PAIR_CLOSERS]
    matched, end = 0, 0
    for offset in closing.marks:
        if matched < len(wanted) and closing.tail[offset] == wanted[matched][1]:
            matched, end = matched + 1, offset + 1
        else:
            break
    if matched == 0:
        return closers
    kept, rest_closers, rest_tail = closing.tail[:end], closers[wanted[matched - 1][0] + 1 :], closing.tail[end:]
    separators_only = rest_tail.strip() and set(rest_tail.strip()) <= SEPARATORS
    if set(rest_closers) & PAIR_CLOSERS or not separators_only:
        return kept + rest_closers
    if rest_closers.strip() and rest_tail.strip() != rest_closers.strip():
        return kept + rest_closers  # the separator that is there wins over another the model chose
    return kept + rest_tail.rstrip()


def _in_one_line_literal(ctx: CursorContext) -> bool:
    """The cursor is inside a string or comment that ends with its line (not a docstring)."""
    line_end = scan("\n", ctx.language, ctx.line_prefix).line_ends[0]
    return scan("", ctx.language, ctx.line_prefix).in_literal and not line_end[2]
