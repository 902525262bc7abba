"""What the in-process engines share: tokenizer, device/dtype choice, and the decode loop.

An in-process engine supplies a `TokenModel` (prefill a token list, then step one token at a time);
`LocalEngine.generate` drives it: sampling, token healing, stop sequences, the caller's stop check and
cancellation between steps.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Protocol

import torch

from ..settings import Settings
from .base import CancelToken, EngineError, Generation, GenerationRequest, ProgressFn, StopCheck

if TYPE_CHECKING:
    from .speculation import Drafter, ModelDrafter

log = logging.getLogger(__name__)

# Prompt lookup drafts also from the text after the cursor: this much of it.
LOOKUP_SUFFIX_CHARS = 4000


class TokenModel(Protocol):
    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        """Run the prompt; return the logits for the next token and how many prompt tokens came from cache."""

    def step(self, token: int) -> torch.Tensor:
        """Append one token; return the logits for the next one."""

    def reset(self) -> None:
        """Forget any cached state (after an error, or to free memory)."""

    # Optional: `greedy_token`, a device tensor holding the argmax of the logits just returned (or None);
    # greedy decoding then reads one number instead of copying the logits to the host each step.
    # Optional, for speculative decoding: `verify(tokens)` appends several tokens in one forward pass and
    # returns the logits after each (one row per token); `truncate(length)` forgets all but the first
    # `length` tokens held (the drafted tokens the model did not agree with).


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


def revision_of(settings: Settings, model_id: str | None) -> str | None:
    """The revision setting names a revision of the model, not of the draft model."""
    return settings.revision if model_id in (None, settings.model) else None


def load_tokenizer(settings: Settings, model_id: str | None = None):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            model_id or settings.model, revision=revision_of(settings, model_id),
            trust_remote_code=settings.trust_remote_code,
        )
    except Exception as err:  # OSError (missing, hub unreachable), ValueError (unknown tokenizer) ...
        raise EngineError(load_failure_message(settings, "tokenizer", err, model_id)) from err


def out_of_memory(settings: Settings, err: Exception) -> EngineError:
    return EngineError(f"not enough memory to load '{settings.model}' ({err}); try a smaller model or --device cpu")


def load_failure_message(settings: Settings, what: str, err: Exception, model_id: str | None = None) -> str:
    model_id = model_id or settings.model
    setting = "draftModel (--draft-model)" if model_id == settings.draft_model else "codegenLsp.model (or --model)"
    hint = f"set {setting} to a hub id or a local model directory"
    if "trust_remote_code" in str(err) and not settings.trust_remote_code:
        hint = "the checkpoint ships its own Python code; set trustRemoteCode (--trust-remote-code) only if you trust it"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += "; HF_HUB_OFFLINE=1 is set, so only models already on disk can load"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"could not load the {what} of '{model_id}': {first_line} ({hint})"


class LocalEngine:
    """Base for in-process engines; subclasses implement `_load_model` and set `self.model`."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokenizer = None
        self.model: TokenModel | None = None
        self.drafter: ModelDrafter | None = None  # when a draft model is set (else prompt lookup, per request)
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
        if self.settings.draft_model:
            self._load_draft_model(report)
        report("ready", 100)

    def _load_model(self, report: ProgressFn) -> None:
        raise NotImplementedError

    def _token_model(self, model_id: str, report: ProgressFn) -> TokenModel:
        """Load a checkpoint as this engine's TokenModel (used for the draft model)."""
        raise NotImplementedError

    def _warm_up(self, model: TokenModel) -> None:
        model.prefill(self.encode("def main():\n") or [0])
        model.reset()

    def _load_draft_model(self, report: ProgressFn) -> None:
        """The small model that drafts for speculative decoding; it must share the model's tokenizer."""
        from .speculation import ModelDrafter

        draft_id = self.settings.draft_model
        report(f"loading draft model {draft_id}", 85)
        if load_tokenizer(self.settings, draft_id).get_vocab() != self.tokenizer.get_vocab():
            raise EngineError(
                f"the draft model '{draft_id}' has another tokenizer than '{self.settings.model}'; "
                "a draft model must be of the same family (e.g. codegen-350M-multi for codegen-16B-multi)"
            )
        model = self._token_model(draft_id, report)
        self._warm_up(model)
        self.drafter = ModelDrafter(model, min(model.window, self.context_window))

    def _read_config(self, report: ProgressFn, model_id: str | None = None):
        """The checkpoint's config (what it is, its dtype), before any weights are read."""
        from transformers import AutoConfig

        settings = self.settings
        report("reading model config", 10)
        try:
            return AutoConfig.from_pretrained(
                model_id or settings.model, revision=revision_of(settings, model_id),
                trust_remote_code=settings.trust_remote_code,
            )
        except Exception as err:
            raise EngineError(load_failure_message(settings, "model config", err, model_id)) from err

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
            self._forget_cached_state()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EngineError(f"out of memory while generating ({err}); cached state was freed") from err
        except Exception:
            self._forget_cached_state()  # the cache may hold a half-written step
            raise

    def generate_many(
        self, requests: list[GenerationRequest], cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> list[Generation]:
        """In process there is one model and one KV cache: alternatives run one after another."""
        return [self.generate(request, cancel, should_stop) for request in requests]

    def _forget_cached_state(self) -> None:
        self.model.reset()
        if self.drafter is not None:
            self.drafter.reset()

    def _prompt_ids(self, request: GenerationRequest) -> tuple[list[int], str]:
        """Tokenize the prompt; back off the last token so the model may choose its own boundary."""
        ids = self.encode(request.prompt)
        limit = max(1, self.context_window - request.max_new_tokens)
        ids = ids[-limit:] or self._start_ids()
        heal = request.heal
        if len(ids) > 1 and not heal:
            last = self.decode(ids[-1:])
            if heal_worthy(last):
                ids, heal = ids[:-1], last
        return ids, heal

    def _start_ids(self) -> list[int]:
        """What an empty prompt starts from (a small `contextTokens` budget, or the start of an empty file):
        the model's start token, as `generate` does without input; a model needs one token to predict from."""
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        return [start] if start is not None else [0]

    def _decode(self, ids, heal, request, cancel, should_stop, result: Generation) -> Generation:
        generator = None
        if request.temperature > 0:
            generator = torch.Generator().manual_seed(request.seed if request.seed is not None else 0)
        logits, result.reused_tokens = self.model.prefill(ids)
        drafter = self._drafter(request) if generator is None else None
        out: list[int] = []
        # Greedy tokens a verification settled ahead of time; all but the last are in the model's cache.
        known: list[int] = []
        pending_heal = heal
        text = ""
        limit = request.max_new_tokens + (1 if heal else 0)
        for step in range(limit):
            if cancel.cancelled:
                result.finish_reason = "cancelled"
                break
            healing = pending_heal or heal_guards_next(text, heal)
            greedy = getattr(self.model, "greedy_token", None)
            if known:
                token = known.pop(0)
            elif greedy is not None and generator is None and not healing:
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
            if step + 1 == limit:
                break
            if known:
                continue  # this token is in the cache already
            # The next token is plain greedy (no heal constraint left): worth drafting.
            draft = []
            if drafter is not None and not pending_heal and not heal_guards_next(text, heal):
                draft = drafter.propose(ids + out, min(request.draft_tokens, limit - step - 2))
            result.forward_passes += 1
            if draft:
                known = self._verify(ids, out, draft, result)
            else:
                logits = self.model.step(token)
        result.generated_tokens = len(out)
        result.text = text[len(heal):] if text.startswith(heal) else text
        return result

    def _drafter(self, request: GenerationRequest) -> Drafter | None:
        """Prompt lookup (over the prompt, the output, and the text after the cursor) or the draft model;
        None when the request or the model does not speculate."""
        if request.draft_tokens <= 0 or not hasattr(self.model, "verify"):
            return None
        if self.drafter is not None:
            return self.drafter
        from .speculation import PromptLookup

        return PromptLookup(self.encode(request.suffix[:LOOKUP_SUFFIX_CHARS]) if request.suffix else ())

    def _verify(self, ids: list[int], out: list[int], draft: list[int], result: Generation) -> list[int]:
        """Feed the last token with the draft in one pass; keep the agreed part in the cache. Returns the
        agreed draft tokens and the model's own choice after them."""
        from .speculation import accepted_length

        rows = self.model.verify([out[-1]] + draft)
        greedy = torch.argmax(rows, dim=-1).tolist()
        n = accepted_length(draft, greedy)
        self.model.truncate(len(ids) + len(out) + n)
        result.drafted_tokens += len(draft)
        result.accepted_tokens += n
        return draft[:n] + [greedy[n]]

    def _heal_bias(self, generated: str, heal: str, size: int) -> torch.Tensor:
        """0 for the tokens that agree with the text the prompt backed off, -inf for all others."""
        texts = self.token_texts()
        bias = torch.full((size,), float("-inf"))
        allowed = [i for i, t in enumerate(texts[:size]) if t and "\ufffd" not in t and heal_allows(generated + t, heal)]
        bias[allowed] = 0.0
        return bias

    def close(self) -> None:
        self.model = self.drafter = None
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
