"""The prompt: a header naming the file, snippets of other open documents, and the text before the cursor
(and after it, for fill-in-the-middle models), cut to a token budget at a line boundary.

The newest text always survives; what goes is the oldest lines. Cut points sit on a grid of lines so that
while the user types, the start of the prompt stays put and the engine can keep reusing its KV cache.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Sequence

from cachetools import LRUCache

from . import languages

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
    block_counts: "BlockCounts | None" = None,
) -> str:
    """The longest tail of `text` that starts at a line boundary and fits `budget` tokens.

    When no whole line fits (one enormous line), the tail is cut mid-line by characters instead.
    Blocks' token counts are summed rather than tokenizing every candidate tail; pass the same
    `block_counts` across keystrokes and only the block being typed in is tokenized again.
    """
    # No token stands for more than max_token_chars characters, so the last budget tokens lie within
    # the last budget * max_token_chars characters: tokenize only that.
    window = budget * max(max_token_chars, 1)
    base = max(0, len(text) - window)
    if block_counts is None:
        block_counts = BlockCounts(count_tokens)
    return _cut_by_blocks(text, base, budget, count_tokens, block_counts, line_grid)


class BlockCounts:
    """Token counts of a document's blocks (the stretches between grid line starts), remembered across
    keystrokes: typing changes the last block only, so only that one is tokenized again."""

    def __init__(self, count_tokens: Callable[[str], int], entries: int = 4096) -> None:
        self.count_tokens = count_tokens
        self._counts: LRUCache = LRUCache(maxsize=entries)

    def __call__(self, block: str) -> int:
        count = self._counts.get(block)
        if count is None:
            count = self._counts[block] = self.count_tokens(block)
        return count


def _cut_by_blocks(
    text: str, base: int, budget: int, count_tokens: Callable[[str], int], block_counts: BlockCounts, line_grid: int
) -> str:
    """The earliest grid start whose blocks fit. Tokenized whole, the text can differ from the sum of its
    blocks by a token or so at each block boundary: a start that fits with a token to spare per boundary
    is taken as it is, one nearer the limit is checked by tokenizing it."""
    starts = _line_starts(text, base, line_grid)
    bounds = starts + [len(text)]
    counts = [block_counts(text[a:b]) for a, b in zip(bounds, bounds[1:])]
    remaining = sum(counts)
    for i, start in enumerate(starts):
        boundaries = len(starts) - i
        if remaining + boundaries <= budget:
            return text[start:]
        if remaining <= budget + boundaries and count_tokens(text[start:]) <= budget:
            return text[start:]
        remaining -= counts[i]
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


# -- the whole prompt: header, neighbouring snippets, the code before (and, for FIM, after) the cursor -----

SNIPPET_SHARE = 0.25  # at most this part of the budget goes to other documents' snippets
SUFFIX_SHARE = 0.25  # FIM: at most this part of the budget goes to the code after the cursor
MARGIN_TOKENS = 4  # tokens may merge differently where the parts meet


@dataclass(frozen=True)
class Prompt:
    text: str
    header_tokens: int = 0
    snippet_tokens: int = 0
    snippets: int = 0
    suffix_tokens: int = 0
    retrieved: int = 0  # of the snippets, how many came from the workspace index (they go first)


def line_comment(language: str) -> str:
    """The marker that starts a line comment in `language` (`//` where it has none)."""
    return (languages.language(language).line_comments or ("//",))[0]


def display_path(path: str, parts: int = 2) -> str:
    """The file's last few path components: enough for the model, nothing about the user's home."""
    return "/".join([p for p in path.replace("\\", "/").split("/") if p][-parts:])


def header(path: str, language: str) -> str:
    comment = languages.language(language).comment
    shown = display_path(path)
    lines = [f"{comment(f'Path: {shown}')}\n"] if shown else []
    return "".join(lines) + f"{comment(f'Language: {language}')}\n"


def snippet_block(snippet, language: str) -> str:
    """Another document's code as comments: context for the model, not code of this file."""
    comment = languages.language(language).comment
    body = "".join(comment(line) + "\n" for line in snippet.text.rstrip("\n").split("\n"))
    return f"{comment(f'Compare this snippet from {display_path(snippet.path)}:')}\n{body}"


def retrieval_budget(budget: int, share: float) -> int:
    """The tokens the retrieved blocks may take of a prompt of `budget` tokens (as build_prompt counts them)."""
    return int(max(budget - MARGIN_TOKENS, 1) * share)


def cut_head_to_budget(text: str, budget: int, count_tokens: Callable[[str], int], max_token_chars: int = 64) -> str:
    """The longest head of `text` that ends at a line end and fits `budget` tokens ("" if no line fits)."""
    # As in cut_to_budget: budget tokens cover at most budget * max_token_chars characters (a whole file after
    # the cursor need not be tokenized on every keystroke).
    text = text[: budget * max(max_token_chars, 1)]
    if count_tokens(text) <= budget:
        return text
    ends = [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    lo, hi = 0, len(ends)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[: ends[mid - 1]]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[: ends[lo - 1]] if lo else ""


def build_prompt(
    prefix: str,
    suffix: str,
    path: str,
    language: str,
    budget: int,
    count_tokens: Callable[[str], int],
    snippets: Sequence = (),
    fim=None,
    max_token_chars: int = 64,
    with_header: bool = True,
    block_counts: BlockCounts | None = None,
    retrieved: Sequence = (),
    retrieved_share: float = 0.0,
) -> Prompt:
    """Header, snippets and the code around the cursor within `budget` tokens, newest code first to stay.

    The header and snippets come first and change only when other documents or the lines above the
    cursor do, so that while the user types the prompt's start stays put for the engine's KV cache.
    `block_counts` (kept across keystrokes) also remembers the header's and the snippets' counts.
    `retrieved`: definitions from the workspace index (workspace_index.retrieval), ahead of the open documents'
    snippets, within `retrieved_share` of the budget; both together stay within the larger of the two shares.
    """
    budget = max(budget - MARGIN_TOKENS, 1)
    if block_counts is None:
        block_counts = BlockCounts(count_tokens)
    head = header(path, language) if with_header else ""
    head_tokens = block_counts(head) if head else 0
    if head_tokens > budget // 8:
        head, head_tokens = "", 0
    found, snippet_tokens = _fit(retrieved, budget * retrieved_share, 0, language, block_counts)
    opened, snippet_tokens = _fit(snippets, budget * max(SNIPPET_SHARE, retrieved_share), snippet_tokens, language,
                                  block_counts)
    blocks = found + opened
    left = budget - head_tokens - snippet_tokens
    suffix_text, suffix_tokens = "", 0
    if fim is not None:
        left -= block_counts(fim.overhead())
        suffix_text = cut_head_to_budget(suffix, int(left * SUFFIX_SHARE), count_tokens, max_token_chars)
        suffix_tokens = count_tokens(suffix_text) if suffix_text else 0
        left -= suffix_tokens
    code = cut_to_budget(prefix, max(left, 1), count_tokens, max_token_chars, block_counts=block_counts)
    context = head + "".join(blocks)
    if context and code and not context.endswith("\n"):
        context += "\n"
    before = context + code
    text = fim.render(before, suffix_text) if fim is not None else before
    return Prompt(text, head_tokens, snippet_tokens, len(blocks), suffix_tokens, len(found))


def _fit(snippets: Sequence, limit: float, used: int, language: str, block_counts: BlockCounts) -> tuple[list[str], int]:
    """The snippets' blocks, in order, that fit while the tokens used stay within `limit`; and the tokens used."""
    blocks = []
    for snippet in snippets:
        block = snippet_block(snippet, language)
        tokens = block_counts(block)
        if used + tokens <= limit:
            blocks.append(block)
            used += tokens
    return blocks, used
