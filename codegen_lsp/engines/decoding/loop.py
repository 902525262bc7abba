"""The decode loop: prefill, then one token at a time (or several, when a draft is verified) until the
stopping check, the length limit or a cancellation ends it (gpt-fast's prefill / decode_n_tokens)."""

from __future__ import annotations

from typing import Callable

import torch

from ..base import CancelToken, Generation, GenerationRequest
from .choice import TokenChooser, heal_guards_next
from .speculation import Drafter, verify_draft
from .stopping import FinishReason, StoppingCriteria
from .token_model import TokenModel


class DecodeLoop:
    """One generation over a TokenModel. `decode`: token ids -> text (the engine's tokenizer)."""

    def __init__(
        self,
        model: TokenModel,
        decode: Callable[[list[int]], str],
        chooser: TokenChooser,
        stopping: StoppingCriteria,
        drafter: Drafter | None = None,
    ) -> None:
        self.model = model
        self.decode = decode
        self.chooser = chooser
        self.stopping = stopping
        self.drafter = drafter if chooser.greedy else None  # speculation keeps greedy text only
        self.heal = stopping.heal
        self.out: list[int] = []
        self.text = ""
        self.pending_heal = self.heal  # the part of the heal not yet reproduced
        # Greedy tokens a verification settled ahead of time; all but the last are in the model's cache.
        self.known: list[int] = []

    def run(self, ids: list[int], request: GenerationRequest, cancel: CancelToken, result: Generation) -> Generation:
        logits, result.reused_tokens = self.model.prefill(ids)
        limit = request.max_new_tokens + (1 if self.heal else 0)
        for step in range(limit):
            if cancel.cancelled:
                result.finish_reason = FinishReason.CANCELLED
                break
            token = self._next_token(logits)
            reason = self._append(token)
            if reason is not None:
                result.finish_reason = reason
                break
            if step + 1 == limit:
                break
            if self.known:
                continue  # this token is in the cache already
            logits = self._advance(ids, token, min(request.draft_tokens, limit - step - 2), result)
        result.generated_tokens = len(self.out)
        result.text = self.stopping.visible(self.text)
        return result

    def _next_token(self, logits: torch.Tensor) -> int:
        if self.known:
            return self.known.pop(0)
        healing = bool(self.pending_heal) or heal_guards_next(self.text, self.heal)
        return self.chooser(self.model, logits, self.text, healing)

    def _append(self, token: int) -> FinishReason | None:
        """Take the token into the text; why to stop now, or None."""
        if self.stopping.ends_text(token, self.pending_heal):
            return FinishReason.EOS
        self.out.append(token)
        self.text = self.decode(self.out)
        self.pending_heal = self.heal[len(self.text) :] if len(self.text) < len(self.heal) else ""
        reason, self.text = self.stopping(self.text, self.pending_heal)
        return reason

    def _advance(self, ids: list[int], token: int, draft_limit: int, result: Generation) -> torch.Tensor | None:
        """One forward pass: verify a draft (filling `known`), or step the token. The logits after a step."""
        result.forward_passes += 1
        draft = self._draft(ids, draft_limit)
        if not draft:
            return self.model.step(token)
        self.known, accepted = verify_draft(self.model, len(ids) + len(self.out) - 1, token, draft)
        result.drafted_tokens += len(draft)
        result.accepted_tokens += accepted
        return None

    def _draft(self, ids: list[int], limit: int) -> list[int]:
        """A draft when the next token is plain greedy (no heal constraint left)."""
        if self.drafter is None or self.pending_heal or heal_guards_next(self.text, self.heal):
            return []
        return self.drafter.propose(ids + self.out, limit)
