"""The one seam between the scheduler and whatever generates text.

The scheduler knows only `Engine`: load it (with progress), count tokens, generate text for a prompt,
stop when told. In-process engines (transformers, the fast CodeGen path) and remote ones (an
OpenAI-compatible server) all sit behind it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable, Protocol

# report(message, percentage or None): how an engine tells the user how far loading has come.
ProgressFn = Callable[[str, "int | None"], None]

# should_stop(text generated so far) -> True when post-processing would cut everything after this point,
# so decoding more tokens would be wasted work.
StopCheck = Callable[[str], bool]


class FinishReason(StrEnum):
    """Why a generation ended. A str, so it reads and serializes as its value ("eos", "stop" ...)."""

    EOS = "eos"  # the model ended the text
    STOP = "stop"  # a stop sequence appeared (it is not part of the text)
    LENGTH = "length"  # max_new_tokens reached
    CUT = "cut"  # post-processing would cut everything after this point
    CANCELLED = "cancelled"  # the request was cancelled or superseded


class EngineError(RuntimeError):
    """A failure the user should hear about (load failed, out of memory, server unreachable)."""


class CancelToken:
    """A stop flag that the model loop checks between decode steps (thread-safe)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on the cancelling thread when the token is cancelled (at once when it already is),
        for work that blocks where no decode step checks the flag (a network read); returns a function that
        unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Token healing: text that was backed off the end of the prompt and that the generated text must
    # start with (the engine constrains its first tokens to it). Empty: no constraint.
    heal: str = ""
    # FIM models: the text after the cursor; engines that cannot use it ignore it.
    suffix: str = ""
    # Speculative decoding (greedy, in-process engines): verify up to this many drafted tokens in one
    # forward pass. 0: one token per pass. The text is the same either way.
    draft_tokens: int = 0


@dataclass
class Generation:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens served from a KV cache instead of being prefilled
    generated_tokens: int = 0
    drafted_tokens: int = 0  # tokens a drafter proposed (speculative decoding)
    accepted_tokens: int = 0  # of those, the ones the model agreed with
    forward_passes: int = 0  # model calls after the prefill (steps and verifications)

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


class Engine(Protocol):
    """Everything the pipeline asks of an engine; nothing else is probed."""

    name: str
    # The model's context window in tokens (prompt + generated).
    context_window: int
    # The model's name for the user's status bar (a remote engine's served model), once loaded.
    model_name: str | None
    # The model's tokenizer (a transformers tokenizer), or None when there is none to read: the pipeline
    # picks a fill-in-the-middle template from its special tokens.
    tokenizer: Any
    # True when the engine builds fill-in-the-middle prompts itself (llama.cpp's /infill): the pipeline then
    # sends a plain prefix and the suffix instead of rendering a FIM template.
    fills_in_the_middle: bool
    # What the engine runs on, for `codegen/stats`, the check command and :checkhealth, filled at load
    # (device, dtype, threads, decode plan, compile seconds, ...): names to short values, no source text.
    runtime: dict[str, str | int | float]

    def load(self, report: ProgressFn) -> None:
        """Load the model; raises EngineError with a message for the user when it cannot."""

    def count_tokens(self, text: str) -> int: ...

    def max_token_chars(self) -> int:
        """An upper bound on the characters one token can stand for (used to pre-cut long documents)."""

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        """Generate text for the request; returns early with finish_reason "cancelled" or "cut"."""

    def generate_many(
        self, requests: list[GenerationRequest], cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> list[Generation]:
        """One generation per request, in order (alternatives). A remote engine sends requests that differ only
        in their seed as one request with `n` (the server batches them); in process they run one after another."""

    def close(self) -> None:
        """Free what the engine holds (GPU memory first)."""
