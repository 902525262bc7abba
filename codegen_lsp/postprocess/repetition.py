"""Stop where the model starts looping.

Small models fall into loops (`f(x, f(x, f(x, ...`, the same line over and over) and fill every token they
are given with them. A piece of a line or a line that repeats three times in a row, or a block of lines that
repeats twice, is kept once; a line whose repeating piece ends with an operator (`foo = foo = foo = …`) is
dropped whole, since its first piece leaves the line unfinished. Near-duplicates loop too (`const b = 1;`
`const c = 1;` ... `const j = 1;`): in a run of three or more lines of one shape whose names or numbers count up (b, c, d; x1, x2, x3), the run stops
at the first line after its first whose new names the document never mentions (`self.a = a` `self.b = b`
from the parameters stay; `a(); b(); a(); c();` does not count up and is left alone).
"""

from __future__ import annotations

import re

from ..context import CursorContext

TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")
WORD = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?")
NEAR_TIMES = 3

MIN_PIECE = 4  # shorter repeats (`)))`, `----`, indentation) are ordinary code
TIMES = 3
MAX_LINE = 400  # looking further costs more than it finds
MAX_BLOCK = 4
DANGLING = tuple("=+-*/%&|^<>!~?:.") + (" and", " or", " not", " in")  # a piece ending so leaves a line unfinished


def cut_repetition(text: str, ctx: CursorContext) -> str:
    lines = text.split("\n")
    end = _repeated_block(lines)
    near = _near_duplicates(lines, ctx)
    if end is not None or near is not None:
        return "\n".join(lines[: min(i for i in (end, near) if i is not None)])
    offset = 0
    for line in lines:
        end = _loop_start(line)
        if end is not None:
            if line[:end].rstrip().endswith(DANGLING):
                return text[:offset].rstrip()  # `foo = foo = foo = …`: its first piece is no code either
            return text[: offset + end]
        offset += len(line) + 1
    return text


def _repeated_block(lines: list[str]) -> int | None:
    """The number of lines to keep when a line repeats TIMES times in a row, or a block of 2 to 4 lines
    follows itself (indentation aside: loops often nest deeper each round)."""
    stripped = [line.strip() for line in lines]
    for start in range(len(lines)):
        if not stripped[start] or set(stripped[start]) <= set(")]};,"):
            continue  # `}` `}` `}` closing nested blocks is code
        for size in range(1, MAX_BLOCK + 1):
            times = TIMES if size == 1 else 2
            block = stripped[start : start + size]
            if start + size * times > len(lines):
                break
            if all(stripped[start + k * size : start + (k + 1) * size] == block for k in range(1, times)):
                return start + size
    return None


def _near_duplicates(lines: list[str], ctx: CursorContext) -> int | None:
    """The number of lines to keep when a run of NEAR_TIMES lines differing only in names or numbers goes on
    with names the document does not have."""
    shapes = [_shape(line) for line in lines]
    known: set[str] | None = None
    start = 0
    while start < len(lines):
        end = start + 1
        while end < len(lines) and shapes[start] and shapes[end] == shapes[start]:
            if not _counts_up(lines[end - 1], lines[end]):
                break
            end += 1
        if end - start >= NEAR_TIMES:
            if known is None:
                known = set(WORD.findall(ctx.prefix + ctx.suffix))
            first = TOKEN.findall(lines[start])
            for number in range(start + 1, end):
                changed = [b for a, b in zip(first, TOKEN.findall(lines[number])) if a != b]
                if any(token not in known for token in changed):
                    return number
        start = end
    return None


def _counts_up(previous: str, line: str) -> bool:
    """Every name or number that changed from `previous` is its successor: b→c, x1→x2, 9→10."""
    changed = [(a, b) for a, b in zip(TOKEN.findall(previous), TOKEN.findall(line)) if a != b]
    return bool(changed) and all(_successor(a, b) for a, b in changed)


def _successor(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return int(b) == int(a) + 1
    stem_a, stem_b = a.rstrip("0123456789"), b.rstrip("0123456789")
    if stem_a == stem_b and a != stem_a and b != stem_b:
        return int(b[len(stem_b) :]) == int(a[len(stem_a) :]) + 1
    return len(a) == len(b) and a[:-1] == b[:-1] and ord(b[-1]) == ord(a[-1]) + 1


def _shape(line: str) -> tuple[str, ...] | None:
    """The line with its names and numbers blanked out (None for a blank line or one without names)."""
    tokens = TOKEN.findall(line)
    if not any(WORD.fullmatch(t) for t in tokens) or len(tokens) < 3:
        return None
    return tuple("w" if WORD.fullmatch(t) else t for t in tokens)


def _loop_start(line: str) -> int | None:
    """The end of a piece's first occurrence when the piece (with a letter in it: `0, 0, 0` is data, not a
    loop) follows itself TIMES times in `line`."""
    line = line[:MAX_LINE]
    for start in range(len(line)):
        longest = (len(line) - start) // TIMES
        for size in range(MIN_PIECE, longest + 1):
            piece = line[start : start + size]
            if any(ch.isalpha() for ch in piece) and line.startswith(piece * TIMES, start):
                return start + size
    return None
