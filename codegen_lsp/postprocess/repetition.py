"""Stop where the model starts looping.

Small models fall into loops (`f(x, f(x, f(x, ...`, the same line over and over) and fill every token they
are given with them. A piece of a line or a line that repeats three times in a row, or a block of lines that
repeats twice, is kept once.
"""

from __future__ import annotations

from ..context import CursorContext

MIN_PIECE = 4  # shorter repeats (`)))`, `----`, indentation) are ordinary code
TIMES = 3
MAX_LINE = 400  # looking further costs more than it finds
MAX_BLOCK = 4


def cut_repetition(text: str, ctx: CursorContext) -> str:
    lines = text.split("\n")
    end = _repeated_block(lines)
    if end is not None:
        return "\n".join(lines[:end])
    offset = 0
    for line in lines:
        end = _loop_start(line)
        if end is not None:
            return text[: offset + end]
        offset += len(line) + 1
    return text


def _repeated_block(lines: list[str]) -> int | None:
    """The number of lines to keep when a line repeats TIMES times in a row, or a block of 2 to 4 lines
    follows itself (indentation aside: loops often nest deeper each round)."""
    stripped = [line.strip() for line in lines]
    for start in range(len(lines)):
        if not stripped[start]:
            continue
        for size in range(1, MAX_BLOCK + 1):
            times = TIMES if size == 1 else 2
            block = stripped[start : start + size]
            if start + size * times > len(lines):
                break
            if all(stripped[start + k * size : start + (k + 1) * size] == block for k in range(1, times)):
                return start + size
    return None


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
