"""What the in-process engines share: tokenizer, device/dtype choice, and the decode loop.

An in-process engine supplies a `TokenModel` (prefill a token list, then step one token at a time);
`LocalEngine.generate` drives it: sampling, token healing, stop sequences, the caller's stop check and
cancellation between steps.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol

import torch

from ..settings import Settings
from .base import CancelToken, EngineError, Generation, GenerationRequest, ProgressFn, StopCheck

log = logging.getLogger(__name__)


class TokenModel(Protocol):
    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        """Run the prompt; return the logits for the next token and how many prompt tokens came from cache."""

    def step(self, token: int) -> torch.Tensor:
        """Append one token; return the logits for the next one."""

    def reset(self) -> None:
        """Forget any cached state (after an error, or to free memory)."""

    # Optional: `greedy_token`, a device tensor holding the argmax of the logits just returned (or None);
    # greedy decoding then reads one number instead of copying the logits to the host each step.


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens two sequences share: what a KV cache can keep of one for the other."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(setting: str, device: str, config_dtype: object) -> torch.dtype:
    """auto: the checkpoint's half precision on a GPU (float16 when it names none), float32 on a CPU."""
    if setting != "auto":
        return getattr(torch, setting)
    if not device.startswith("cuda"):
        return torch.float32
    if isinstance(config_dtype, str):
        config_dtype = getattr(torch, config_dtype, None)
    if config_dtype in (torch.float16, torch.bfloat16):
        return config_dtype
    return torch.float16


def load_tokenizer(settings: Settings):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            settings.model, revision=settings.revision, trust_remote_code=settings.trust_remote_code
        )
    except Exception as err:  # OSError (missing, hub unreachable), ValueError (unknown tokenizer) ...
        raise EngineError(load_failure_message(settings, "tokenizer", err)) from err


def out_of_memory(settings: Settings, err: Exception) -> EngineError:
    return EngineError(f"not enough memory to load '{settings.model}' ({err}); try a smaller model or --device cpu")


def load_failure_message(settings: Settings, what: str, err: Exception) -> str:
    hint = "set codegenLsp.model (or --model) to a hub id or a local model directory"
    if "trust_remote_code" in str(err) and not settings.trust_remote_code:
        hint = "the checkpoint ships its own Python code; set trustRemoteCode (--trust-remote-code) only if you trust it"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += "; HF_HUB_OFFLINE=1 is set, so only models already on disk can load"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"could not load the {what} of '{settings.model}': {first_line} ({hint})"


class LocalEngine:
    """Base for in-process engines; subclasses implement `_load_model` and set `self.model`."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokenizer = None
        self.model: TokenModel | None = None
        self.context_window = 2048
        self.eos_ids: set[int] = set()
        self._token_texts: list[str] | None = None
        self._backend = None  # the Rust tokenizer, when it encodes exactly as the transformers wrapper does
        self._max_token_chars = 64

    # -- loading -------------------------------------------------------------------------------------
    def load(self, report: ProgressFn) -> None:
        report("loading tokenizer", 5)
        self.tokenizer = load_tokenizer(self.settings)
        self._backend = fast_backend(self.tokenizer)
        eos = self.tokenizer.eos_token_id
        self.eos_ids = {eos} if eos is not None else set()
        self._load_model(report)
        report("ready", 100)

    def _load_model(self, report: ProgressFn) -> None:
        raise NotImplementedError

    def _read_config(self, report: ProgressFn):
        """The checkpoint's config (what it is, its dtype), before any weights are read."""
        from transformers import AutoConfig

        settings = self.settings
        report("reading model config", 10)
        try:
            return AutoConfig.from_pretrained(
                settings.model, revision=settings.revision, trust_remote_code=settings.trust_remote_code
            )
        except Exception as err:
            raise EngineError(load_failure_message(settings, "model config", err)) from err

    # -- tokens --------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def max_token_chars(self) -> int:
        return max(len(t) for t in self.token_texts())

    def token_texts(self) -> list[str]:
        """The text of every token id (computed once; used by token healing)."""
        if self._token_texts is None:
            size = len(self.tokenizer)
            self._token_texts = self.tokenizer.batch_decode(
                [[i] for i in range(size)], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
        return self._token_texts

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        if self.model is None:
            raise EngineError("the model is not loaded")
        ids, heal = self._prompt_ids(request)
        result = Generation(text="", finish_reason="length", prompt_tokens=len(ids))
        if cancel.cancelled:
            result.finish_reason = "cancelled"
            return result
        try:
            return self._decode(ids, heal, request, cancel, should_stop, result)
        except torch.OutOfMemoryError as err:
            self.model.reset()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EngineError(f"out of memory while generating ({err}); cached state was freed") from err
        except Exception:
            self.model.reset()  # the cache may hold a half-written step
            raise

    def _prompt_ids(self, request: GenerationRequest) -> tuple[list[int], str]:
        """Tokenize the prompt; back off the last token so the model may choose its own boundary."""
        ids = self.encode(request.prompt)
        limit = max(1, self.context_window - request.max_new_tokens)
        ids = ids[-limit:]
        heal = request.heal
        if len(ids) > 1 and not heal:
            last = self.decode(ids[-1:])
            if heal_worthy(last):
                ids, heal = ids[:-1], last
        return ids, heal

    def _decode(self, ids, heal, request, cancel, should_stop, result: Generation) -> Generation:
        generator = None
        if request.temperature > 0:
            generator = torch.Generator().manual_seed(request.seed if request.seed is not None else 0)
        logits, result.reused_tokens = self.model.prefill(ids)
        out: list[int] = []
        pending_heal = heal
        text = ""
        for step in range(request.max_new_tokens + (1 if heal else 0)):
            if cancel.cancelled:
                result.finish_reason = "cancelled"
                break
            healing = pending_heal or heal_guards_next(text, heal)
            greedy = getattr(self.model, "greedy_token", None)
            if greedy is not None and generator is None and not healing:
                token = int(greedy)  # the same argmax, taken on the device: no copy of the logits
            else:
                logits = logits.float().cpu()
                if healing:
                    logits = logits + self._heal_bias(text, heal, logits.shape[-1])
                token = pick_token(logits, request.temperature, request.top_p, generator)
            if token in self.eos_ids and not pending_heal:
                result.finish_reason = "eos"
                break
            out.append(token)
            text = self.decode(out)
            pending_heal = heal[len(text):] if len(text) < len(heal) else ""
            visible = text[len(heal):] if text.startswith(heal) else text
            cut = first_stop(visible, request.stop)
            if cut is not None:
                text, result.finish_reason = heal + visible[:cut], "stop"
                break
            if should_stop is not None and not pending_heal and should_stop(visible):
                result.finish_reason = "cut"
                break
            if step + 1 == request.max_new_tokens + (1 if heal else 0):
                break
            logits = self.model.step(token)
        result.generated_tokens = len(out)
        result.text = text[len(heal):] if text.startswith(heal) else text
        return result

    def _heal_bias(self, generated: str, heal: str, size: int) -> torch.Tensor:
        """0 for the tokens that agree with the text the prompt backed off, -inf for all others."""
        texts = self.token_texts()
        bias = torch.full((size,), float("-inf"))
        allowed = [i for i, t in enumerate(texts[:size]) if t and "\ufffd" not in t and heal_allows(generated + t, heal)]
        bias[allowed] = 0.0
        return bias

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


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


def fast_backend(tokenizer):
    """The `tokenizers` object behind a fast tokenizer, used directly: the transformers wrapper spends about
    1 ms per call converting its output, more than the tokenization itself (profiled on a 1,000-token
    prompt), and the server tokenizes on every keystroke. Used only when it gives the wrapper's ids."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    sample = "def f(x):\n    return {'ü': x}  # 漢字 😀\n\tpass\n"
    try:
        same = backend is not None and backend.encode(sample, add_special_tokens=False).ids == tokenizer.encode(
            sample, add_special_tokens=False
        )
    except Exception:
        same = False
    return backend if same else None


def heal_worthy(token_text: str) -> bool:
    """A last token that is only indentation or a word fragment: the model should pick the boundary itself."""
    if not token_text or "\ufffd" in token_text:
        return False
    if token_text.isspace():
        return True
    return "\n" not in token_text and token_text.strip().isidentifier()


def first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None


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
