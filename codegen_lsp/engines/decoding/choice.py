"""Which token comes next: greedy, sampled (temperature, top-p, seeded) or constrained by token healing
(TGI's NextTokenChooser)."""

from __future__ import annotations

from typing import Callable

import torch

from .token_model import TokenModel


def heal_allows(text: str, heal: str) -> bool:
    """May the generated text start like this? It must reproduce `heal`; after backed-off indentation or a
    space it must go on with code, not more whitespace (the stray-space answer that healing exists to stop)."""
    if len(text) <= len(heal):
        return heal.startswith(text)
    if not text.startswith(heal):
        return False
    return not (heal[-1] in " \t" and text[len(heal)].isspace())


def heal_guards_next(generated: str, heal: str) -> bool:
    """The heal is reproduced exactly and ended in a space or tab: the next token must not add whitespace."""
    return bool(heal) and generated == heal and heal[-1] in " \t"


def heal_worthy(token_text: str) -> bool:
    """A last token that is only indentation or a word fragment: the model should pick the boundary itself."""
    if not token_text or "\ufffd" in token_text:
        return False
    if token_text.isspace():
        return True
    return "\n" not in token_text and token_text.strip().isidentifier()


def heal_bias(token_texts: list[str], generated: str, heal: str, size: int) -> torch.Tensor:
    """0 for the tokens that agree with the text the prompt backed off, -inf for all others."""
    bias = torch.full((size,), float("-inf"))
    allowed = [
        i for i, t in enumerate(token_texts[:size]) if t and "\ufffd" not in t and heal_allows(generated + t, heal)
    ]
    bias[allowed] = 0.0
    return bias


def pick_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> int:
    if temperature <= 0 or generator is None:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


class TokenChooser:
    """Greedy (temperature 0) or seeded sampling, constrained while token healing is in progress.

    `token_texts`: the text of every token id, asked for only when healing constrains a choice."""

    def __init__(
        self, temperature: float, top_p: float, seed: int | None, heal: str, token_texts: Callable[[], list[str]]
    ) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.generator = torch.Generator().manual_seed(seed if seed is not None else 0) if temperature > 0 else None
        self.heal = heal
        self.token_texts = token_texts

    @property
    def greedy(self) -> bool:
        return self.generator is None

    def __call__(self, model: TokenModel, logits: torch.Tensor, generated: str, healing: bool) -> int:
        if self.greedy and not healing and model.greedy_token is not None:
            return int(model.greedy_token)  # the same argmax, taken on the device: no copy of the logits
        logits = logits.float().cpu()
        if healing:
            logits = logits + heal_bias(self.token_texts(), generated, self.heal, logits.shape[-1])
        return pick_token(logits, self.temperature, self.top_p, self.generator)
