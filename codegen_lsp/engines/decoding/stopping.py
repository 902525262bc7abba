"""When decoding stops, and why (TGI's StoppingCriteria, with our post-processing cut)."""

from __future__ import annotations

from typing import Callable, Iterable

from ..base import FinishReason

__all__ = ["FinishReason", "StoppingCriteria", "first_stop"]


def first_stop(text: str, stops: Iterable[str]) -> int | None:
    """Where the first stop sequence starts in `text`, or None."""
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None


class StoppingCriteria:
    """The stop check of one generation: end of text, stop sequences, the caller's stop check.

    Token healing: while the generated text has not yet reproduced the backed-off `heal` text, neither the
    end of text nor the caller's check may end it; stop sequences are looked for after the heal only.
    """

    def __init__(
        self, eos_ids: set[int], stops: tuple[str, ...], should_stop: Callable[[str], bool] | None, heal: str = ""
    ) -> None:
        self.eos_ids = eos_ids
        self.stops = stops
        self.should_stop = should_stop
        self.heal = heal

    def ends_text(self, token: int, pending_heal: str) -> bool:
        return token in self.eos_ids and not pending_heal

    def visible(self, text: str) -> str:
        """The generated text without the healed part (what the user gets)."""
        return text[len(self.heal) :] if text.startswith(self.heal) else text

    def __call__(self, text: str, pending_heal: str) -> tuple[FinishReason | None, str]:
        """(why to stop, or None; the text to keep) after a token was appended to `text`."""
        visible = self.visible(text)
        cut = first_stop(visible, self.stops)
        if cut is not None:
            return FinishReason.STOP, self.heal + visible[:cut]
        if self.should_stop is not None and not pending_heal and self.should_stop(visible):
            return FinishReason.CUT, text
        return None, text
