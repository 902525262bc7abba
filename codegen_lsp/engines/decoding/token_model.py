"""What the decode loop asks of a model: prefill a prompt, step one token, verify several, forget."""

from __future__ import annotations

from typing import Protocol

import torch


class TokenModel(Protocol):
    # The positions the model can hold (prompt + generated).
    window: int
    # A device tensor holding the argmax of the logits just returned, or None. Greedy decoding reads one
    # number from it instead of copying the logits to the host each step.
    greedy_token: torch.Tensor | None

    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        """Run the prompt; return the logits for the next token and how many prompt tokens came from cache."""

    def step(self, token: int) -> torch.Tensor:
        """Append one token; return the logits for the next one."""

    def verify(self, tokens: list[int]) -> torch.Tensor:
        """Append several tokens in one forward pass; the logits after each (one row per token)."""

    def truncate(self, length: int) -> None:
        """Forget all but the first `length` tokens held (drafted tokens the model did not agree with)."""

    def reset(self) -> None:
        """Forget any cached state (after an error, or to free memory)."""


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens two sequences share: what a KV cache can keep of one for the other."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
