"""The transformers engine: any Hugging Face causal LM, in process, with KV prefix reuse.

Between keystrokes the prompt changes by a token or two. The engine keeps the key/value caches of its
last few sequences (`kv_cache_slots`), finds the one that shares the longest token prefix with the new
prompt, crops it there and runs only the new tokens.

How it decodes is chosen once at load (static_plan.py): eagerly over transformers' dynamic cache
(`HFTokenModel`), or over its static cache with the forward compiled per token-count bucket
(static_model.StaticTokenModel). A compile that fails at load falls back to the dynamic path, logged once.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field

import torch

from ..base import EngineError, ProgressFn
from ..context_window import DEFAULT_CONTEXT_WINDOW, context_window_of
from ..decoding.token_model import common_prefix_length
from .engine import LocalEngine
from .loading import dtype_name, load_errors, read_model_config, resolve_device, resolve_dtype, revision_of
from .static_model import StaticTokenModel, compile_forward
from .static_plan import DYNAMIC_PLAN, PREFILL_BUCKETS, choose_plan, with_window

log = logging.getLogger(__name__)


@dataclass
class KVSlot:
    """A KV cache together with the token ids it holds, in order."""

    cache: object
    ids: list[int] = field(default_factory=list)

    def crop(self, length: int) -> None:
        if length >= len(self.ids):
            return
        for layer in self.cache.layers:
            layer.keys = layer.keys[..., :length, :]
            layer.values = layer.values[..., :length, :]
        del self.ids[length:]


class HFTokenModel:
    """prefill/step over a transformers model, reusing the best-matching cached prefix."""

    # Logits stay on the model's device; argmax is taken by the chooser on the host.
    greedy_token = None

    def __init__(self, model, device: str, slots: int, window: int = DEFAULT_CONTEXT_WINDOW) -> None:
        self.model = model
        self.window = window
        self.device = device
        self.max_slots = slots
        self.slots: list[KVSlot] = []  # most recently used last
        self.current: KVSlot | None = None
        params = inspect.signature(model.forward).parameters
        # transformers 5.24 renamed past_key_values to cache; older 5.x only know the old name.
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        # Only the last row's logits when that is all we read (a prefill's full logits are vocab x tokens).
        self.keeps_logits = "logits_to_keep" in params

    def _new_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _choose_slot(self, ids: list[int]) -> tuple[KVSlot, int]:
        """The slot sharing the longest prefix with `ids`; a fresh one (evicting the least recently used)
        when none shares at least a quarter of it, so that another document's cache is not destroyed."""
        best, best_len = None, 0
        for slot in self.slots:
            length = common_prefix_length(slot.ids, ids)
            if length > best_len:
                best, best_len = slot, length
        if best is not None and best_len >= len(ids) // 4:
            self.slots.remove(best)
            self.slots.append(best)
            return best, best_len
        fresh = KVSlot(self._new_cache())
        self.slots.append(fresh)
        del self.slots[: -self.max_slots]
        return fresh, 0

    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        if not ids:
            raise ValueError("cannot prefill an empty prompt")  # (a crop to -1 tokens would break the cache)
        if self.max_slots == 0:
            self.slots.clear()
            slot, reused = KVSlot(self._new_cache()), 0
        else:
            slot, reused = self._choose_slot(ids)
        reused = min(reused, len(ids) - 1)  # at least one token must run to get logits
        slot.crop(reused)
        self.current = slot
        logits = self._forward(ids[reused:], last_only=True)[-1]
        return logits, reused

    def step(self, token: int) -> torch.Tensor:
        return self._forward([token], last_only=True)[-1]

    def verify(self, tokens: list[int]) -> torch.Tensor:
        return self._forward(tokens)

    def truncate(self, length: int) -> None:
        self.current.crop(length)

    def _forward(self, new_ids: list[int], last_only: bool = False) -> torch.Tensor:
        """Run the new tokens on the current slot; the logits after each (one row per token), or after
        the last only."""
        slot = self.current
        input_ids = torch.tensor([new_ids], device=self.device)
        kwargs = {self.cache_kw: slot.cache}
        if last_only and self.keeps_logits:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, use_cache=True, **kwargs)
        slot.ids.extend(new_ids)
        return out.logits[0]

    def reset(self) -> None:
        self.slots.clear()
        self.current = None


class TransformersEngine(LocalEngine):
    name = "transformers"

    def __init__(self, config, *, compiler=compile_forward, prefill_buckets=PREFILL_BUCKETS, **seams) -> None:
        """`compiler(forward, plan)`: how the static plan compiles its forward (static_model.compile_forward);
        `prefill_buckets`: the prompt token counts it compiles beyond the step and the verification. The other
        seams are LocalEngine's."""
        super().__init__(config, **seams)
        self.compiler = compiler
        self.prefill_buckets = prefill_buckets

    def _load_model(self, report: ProgressFn) -> None:
        if self.config.quantize != "none":
            raise EngineError(
                f"quantize {self.config.quantize} runs in the fast CodeGen engine only: set engine: fast "
                "(--engine fast) with a CodeGen checkpoint, or quantize: none"
            )
        self.runtime["compile_seconds"] = 0.0
        self.model = self._token_model(self.config.model, report)
        self.context_window = self.model.window
        self.runtime["dtype"] = dtype_name(self.model.model.dtype)
        self._record_load(self.model.device, self.model.model.dtype, self.model.model.get_memory_footprint())
        report("warming up", 90)
        self._warm_up(self.model)

    def _runs_compiled_graphs(self) -> bool:
        return isinstance(self.model, StaticTokenModel)

    def _token_model(self, model_id: str, report: ProgressFn) -> HFTokenModel | StaticTokenModel:
        """Any causal LM checkpoint (the model, or the draft model), with prefix reuse, decoded as the plan
        chosen for it says."""
        from transformers import AutoModelForCausalLM

        config = self.config
        device = resolve_device(config.device)
        report("reading model config", 10)
        model_config = read_model_config(config, model_id)
        with load_errors(config, "model", model_id):
            dtype = resolve_dtype(config.dtype, device, getattr(model_config, "dtype", None))
            report(f"loading weights of {model_id} ({dtype} on {device})", 20)
            kwargs = dict(dtype=dtype, revision=revision_of(config, model_id),
                          trust_remote_code=config.trust_remote_code)
            if device.startswith("cuda"):
                # accelerate spreads a model that does not fit one GPU over GPUs and CPU memory.
                kwargs["device_map"] = "auto" if config.device == "auto" else device
            model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
        if not device.startswith("cuda"):
            model.to(device)
        model.eval()
        input_device = str(next(model.parameters()).device)
        window = context_window_of(model.config) or DEFAULT_CONTEXT_WINDOW
        draft_tokens = config.draft_tokens if model_id == config.model else 0  # a draft model only steps
        spread = len(set(getattr(model, "hf_device_map", {}).values())) > 1
        plan = choose_plan(config.decode_plan, input_device, draft_tokens, spread=spread, prefill_buckets=self.prefill_buckets)
        token_model = self._static_model(model, model_id, input_device, with_window(plan, window), report)
        if token_model is None:
            plan, token_model = DYNAMIC_PLAN, HFTokenModel(model, input_device, config.kv_cache_slots, window)
        self.runtime.setdefault("plan", plan.name)  # the model's (loaded before a draft model)
        return token_model

    def _static_model(self, model, model_id: str, device: str, plan, report: ProgressFn) -> StaticTokenModel | None:
        """The static-cache model with every bucket compiled, or None (dynamic plan, or compile failed)."""
        if not plan.static:
            return None
        try:
            static = StaticTokenModel(model, device, self.config.kv_cache_slots, plan, self.compiler)
            seconds = static.compile_all(lambda message: report(f"{message} ({model_id})", 85))
        except Exception as err:  # noqa: BLE001 - no compiler, an unsupported model, a failed graph: all fall back
            reason = (str(err).strip().splitlines() or [""])[0][:300]
            log.warning("%s: %s unavailable (%s: %s); decoding eagerly with a dynamic cache",
                        model_id, plan.name, type(err).__name__, reason)
            self.runtime["plan_fallback"] = type(err).__name__
            return None
        log.info("%s: %s, %d buckets compiled in %.1f s", model_id, plan.name, len(plan.buckets()), seconds)
        report(f"compiled the decoding of {model_id} in {seconds:.0f} s", 88)
        self.runtime["compile_seconds"] = round(float(self.runtime.get("compile_seconds", 0.0)) + seconds, 1)
        return static
