"""Speculative decoding for greedy generation: a drafter guesses the next few tokens, the model checks them
all in one forward pass, and every guess that matches what the model would have chosen is a decode step
saved. The text is exactly the text of plain greedy decoding: a guess counts only where it equals the
model's own argmax.

Two drafters:
- `PromptLookup` copies: code repeats itself (names, call patterns, the line the user is retyping), so
  the tokens that followed the latest earlier occurrence of the last few tokens are a good guess. It costs
  no model and proposes nothing when there is no match, so a step without a match costs what it always did.
- `ModelDrafter` asks a small model of the same family (same tokenizer), e.g. codegen-350M for 16B.
"""

from __future__ import annotations

from array import array
from typing import Protocol, Sequence

import torch

from .token_model import TokenModel, common_prefix_length

# Prompt lookup: the longest n-gram tried first; a single token is too weak a cue (it matches almost
# everywhere, and a rejected draft costs more than a plain step on a CPU).
LOOKUP_MAX_NGRAM = 4
LOOKUP_MIN_NGRAM = 2
# The model drafter catches up with this many new tokens by single steps (captured on CUDA); more than
# that (another document, a long edit) by a prefill with prefix reuse.
CATCH_UP_STEPS = 8

_ITEM = array("i").itemsize


class Drafter(Protocol):
    def propose(self, history: list[int], limit: int) -> list[int]:
        """Up to `limit` tokens that may follow `history` (the prompt and what was generated so far)."""


def accepted_length(draft: Sequence[int], greedy: Sequence[int]) -> int:
    """How many drafted tokens the model agrees with: greedy[i] is its choice after the draft's first i."""
    n = 0
    while n < len(draft) and draft[n] == greedy[n]:
        n += 1
    return n


def verify_draft(model: TokenModel, held: int, last: int, draft: list[int]) -> tuple[list[int], int]:
    """Feed the last token with the draft in one pass; keep the agreed part in the model's cache (`held`:
    the tokens it held before `last`). Returns the agreed draft tokens with the model's own choice after
    them, and how many drafted tokens were agreed."""
    rows = model.verify([last] + draft)
    greedy = torch.argmax(rows, dim=-1).tolist()
    n = accepted_length(draft, greedy)
    model.truncate(held + 1 + n)
    return draft[:n] + [greedy[n]], n


class PromptLookup:
    """Drafts from the latest earlier occurrence of the history's last n tokens (n from LOOKUP_MAX_NGRAM
    down to LOOKUP_MIN_NGRAM), searched in the history itself and then in `extra` (the text after the
    cursor). Token ids are packed as fixed-width integers, so a search is one bytes.rfind in C. One per
    generation: the history it is given only grows."""

    def __init__(self, extra: Sequence[int] = ()) -> None:
        self._history = bytearray()
        self._length = 0  # tokens of the history packed so far
        self._extra = array("i", extra).tobytes()

    def propose(self, history: list[int], limit: int) -> list[int]:
        if limit <= 0:
            return []
        self._history += array("i", history[self._length :]).tobytes()
        self._length = len(history)
        for n in range(min(LOOKUP_MAX_NGRAM, len(history)), LOOKUP_MIN_NGRAM - 1, -1):
            pattern = array("i", history[-n:]).tobytes()
            # The history's own last n tokens are excluded: a match must end before the end.
            draft = _follows(self._history, pattern, len(self._history) - _ITEM, limit)
            if not draft:
                draft = _follows(self._extra, pattern, len(self._extra), limit)
            if draft:
                return draft
        return []


def _follows(haystack: bytes | bytearray, pattern: bytes, end: int, limit: int) -> list[int]:
    """The (up to `limit`) tokens after the last token-aligned occurrence of `pattern` ending by `end`."""
    while True:
        at = haystack.rfind(pattern, 0, end)
        if at < 0:
            return []
        if at % _ITEM == 0:
            start = at + len(pattern)
            return array("i", haystack[start : start + limit * _ITEM]).tolist()
        end = at + len(pattern) - 1  # misaligned: look further back


class ModelDrafter:
    """Greedy drafts from a small model that shares the target's tokenizer. It keeps its own KV cache in
    step with the history, so each round costs a step or two to catch up plus one step per drafted token."""

    def __init__(self, model: TokenModel, window: int) -> None:
        self.model = model
        self.window = window
        self.ids: list[int] = []  # what the draft model's cache holds

    def propose(self, history: list[int], limit: int) -> list[int]:
        if limit <= 0 or len(history) + limit > self.window:
            return []
        logits = self._catch_up(history)
        draft: list[int] = []
        while True:
            token = _greedy(self.model, logits)
            draft.append(token)
            if len(draft) == limit:
                return draft
            logits = self.model.step(token)
            self.ids.append(token)

    def _catch_up(self, history: list[int]) -> torch.Tensor:
        """Bring the draft model's cache to `history`; the logits after its last token."""
        held = min(common_prefix_length(self.ids, history), len(history) - 1)
        if held == 0 or len(history) - held > CATCH_UP_STEPS:
            logits, _ = self.model.prefill(history)
        else:
            self.model.truncate(held)
            for token in history[held:]:
                logits = self.model.step(token)
        self.ids = list(history)
        return logits

    def reset(self) -> None:
        self.ids.clear()
        self.model.reset()


def _greedy(model: TokenModel, logits: torch.Tensor) -> int:
    on_device = model.greedy_token
    return int(on_device) if on_device is not None else int(torch.argmax(logits))
