"""The prompt: the text before the cursor, cut to a token budget at a line boundary.

The newest text always survives; what goes is the oldest lines. Cut points sit on a grid of lines so that
while the user types, the start of the prompt stays put and the engine can keep reusing its KV cache.
"""

from __future__ import annotations

import bisect
from typing import Callable

LINE_GRID = 16


def token_budget(context_window: int, max_new_tokens: int, context_tokens: int = 0) -> int:
    budget = context_window - max_new_tokens
    if context_tokens:
        budget = min(budget, context_tokens)
    return max(budget, 1)


def cut_to_budget(
    text: str,
    budget: int,
    count_tokens: Callable[[str], int],
    max_token_chars: int = 64,
    line_grid: int = LINE_GRID,
) -> str:
    """The longest tail of `text` that starts at a line boundary and fits `budget` tokens.

    When no whole line fits (one enormous line), the tail is cut mid-line by characters instead.
    """
    # No token stands for more than max_token_chars characters, so the last budget tokens lie within
    # the last budget * max_token_chars characters: tokenize only that.
    window = budget * max(max_token_chars, 1)
    base = max(0, len(text) - window)
    if base == 0 and count_tokens(text) <= budget:
        return text
    starts = _line_starts(text, base, line_grid)
    # Fewer tokens the later the start: binary search for the earliest start that fits.
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(text[starts[mid] :]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(starts):
        return text[starts[lo] :]
    return _cut_characters(text[base:], budget, count_tokens)


def _line_starts(text: str, base: int, line_grid: int) -> list[int]:
    """Offsets >= base where a line starts, on the grid (line number % line_grid == 0), plus the last line."""
    starts, line_no, pos = [], text.count("\n", 0, base), base
    if base == 0 or text[base - 1] == "\n":
        starts.append(base)
    while True:
        pos = text.find("\n", pos) + 1
        if pos == 0:
            break
        line_no += 1
        if line_no % line_grid == 0:
            starts.append(pos)
    last = text.rfind("\n") + 1
    if last > base and (not starts or starts[-1] != last):
        bisect.insort(starts, last)
    return starts


def _cut_characters(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(text[mid:]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return text[lo:]
