"""A TokenModel over any transformers causal LM with the library's `StaticCache` and the forward compiled
for a few fixed token counts (static_plan.py decides when).

- One static cache, written in place, so that the compiled forward (and its CUDA graphs) always sees the
  same tensors. It holds one sequence at a time; the other KV slots are saved copies of their filled part,
  swapped in when the editor moves to their document (a copy of the filled positions, no forward pass).
- Prefix reuse: the token ids the cache holds are kept; a new prompt sets the cache's filled length to the
  common prefix ("cropping" a static cache: later positions are written over) and runs only what follows.
- Every forward runs a bucket's token count: the new tokens padded with copies of the last one. The padding
  lands after the real tokens, so causal attention hides it from them, and the filled length is set back
  after it. A token count with no bucket (a long first prompt) runs the same forward uncompiled.
- The compiled forward is captured for each bucket at load (`compile_all`), so no request compiles; a
  recompilation during requests would show in torch._dynamo's counters (the tests count them).
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..decoding.token_model import common_prefix_length
from .static_plan import StaticPlan

log = logging.getLogger(__name__)


def compile_forward(forward: Callable, plan: StaticPlan) -> Callable:
    """torch.compile with static shapes (one graph per bucket) in the plan's mode."""
    return torch.compile(forward, mode=plan.compile_mode, dynamic=False)


def make_room_for_graphs(count: int) -> None:
    """Every bucket of every loaded model (a draft model, a reload) is another graph of the same forward
    function; past torch._dynamo's limit per function (8 by default) it would silently run uncompiled."""
    dynamo_config = torch._dynamo.config
    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    setattr(dynamo_config, name, getattr(dynamo_config, name) + count)


def full_attention_config(config, length: int):
    """The config the static cache is built from: StarCoder2 and Mistral-style checkpoints name a sliding window
    (4,096 for StarCoder2) that a cache of at most `length` <= that window never reaches, so their layers are
    plain static layers (whose filled length can be set; a sliding layer keeps its own count)."""
    window = getattr(config, "sliding_window", None)
    if window is None or window < length:
        return config
    config = copy.deepcopy(config)
    config.sliding_window = None
    if getattr(config, "layer_types", None):
        config.layer_types = ["full_attention" if kind == "sliding_attention" else kind for kind in config.layer_types]
    return config


class StaticCacheUnsupported(RuntimeError):
    """The model's cache is not one the static path can crop by position (sliding-window layers)."""


@dataclass
class SavedSequence:
    """A KV slot that is not in the static cache: its token ids and its filled keys/values per layer."""

    ids: list[int]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]


class StaticTokenModel:
    """prefill / step / verify over a StaticCache, each forward padded to a compiled bucket.

    `compiler(forward, plan)` compiles the forward (compile_forward; tests pass a cheaper backend)."""

    greedy_token: torch.Tensor | None = None

    def __init__(self, model, device: str, slots: int, plan: StaticPlan, compiler=compile_forward) -> None:
        from transformers import StaticCache

        self.model = model
        self.device = device
        self.plan = plan
        padding = max(plan.buckets())
        sliding = getattr(model.config, "sliding_window", None)
        # A sliding window at least as long as the cache changes nothing: the window is kept within it.
        self.window = min(plan.window, sliding - padding) if sliding and sliding - padding > 0 else plan.window
        self.max_slots = slots
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.24
        self.cache = StaticCache(config=full_attention_config(model.config, self.window + padding),
                                 max_cache_len=self.window + padding)
        if any(getattr(layer, "is_sliding", False) or not hasattr(layer, "cumulative_length") for layer in self.cache.layers):
            raise StaticCacheUnsupported("the model's cache has sliding-window layers")
        self.ids: list[int] = []  # the tokens whose keys/values the static cache holds, in order
        self.saved: list[SavedSequence] = []  # the other slots, most recently used last
        # What is compiled, as (token count, rows of logits kept): the step, the verification, the prefills.
        width = plan.verify_width
        self.programs = [(1, 1)] + [(width, width)] * (width > 1) + [(bucket, 1) for bucket in plan.prefill_buckets]
        make_room_for_graphs(len(self.programs))
        self.compiled = compiler(self._forward, plan)
        self.compile_seconds = 0.0
        with torch.inference_mode():  # the cache's tensors are allocated (and marked static) outside compile
            self._forward(torch.zeros(1, 1, dtype=torch.long, device=device), 1)
        self._set_filled(0)

    # -- TokenModel -----------------------------------------------------------------------------------
    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        if not ids:
            raise ValueError("cannot prefill an empty prompt")
        if len(ids) > self.window:
            raise ValueError(f"prompt of {len(ids)} tokens exceeds the context window of {self.window}")
        reused = min(self._take_best_slot(ids), len(ids) - 1)  # at least one token must run to get logits
        self.truncate(reused)
        return self._run(ids[reused:], rows=1)[-1], reused

    def step(self, token: int) -> torch.Tensor:
        return self._run([token], rows=1)[-1]

    def verify(self, tokens: list[int]) -> torch.Tensor:
        return self._run(tokens, rows=len(tokens))

    def truncate(self, length: int) -> None:
        if length < len(self.ids):
            del self.ids[length:]
            self._set_filled(length)

    def reset(self) -> None:
        self.saved.clear()
        self.ids.clear()
        self._set_filled(0)

    # -- slots ----------------------------------------------------------------------------------------
    def _take_best_slot(self, ids: list[int]) -> int:
        """Bring the slot sharing the longest prefix with `ids` into the static cache; how much it shares.
        A fresh start (the current sequence saved, the least recently used slot dropped) when none shares a
        quarter of `ids`, so that another document's cache is not destroyed."""
        if self.max_slots == 0:
            return 0
        current = common_prefix_length(self.ids, ids)
        shared = [common_prefix_length(saved.ids, ids) for saved in self.saved]
        best = max(range(len(shared)), key=shared.__getitem__, default=None)
        if current >= len(ids) // 4 and current > 0 and (best is None or current >= shared[best]):
            return current
        if best is not None and shared[best] > current and shared[best] >= len(ids) // 4:
            chosen = self.saved.pop(best)
            self._save_current()
            self._restore(chosen)
            return shared[best]
        self._save_current()
        self.ids.clear()
        self._set_filled(0)
        return 0

    @torch.inference_mode()  # the cache's tensors were made in inference mode
    def _save_current(self) -> None:
        if not self.ids:
            return
        n = len(self.ids)
        layers = self.cache.layers
        self.saved.append(SavedSequence(
            list(self.ids), [layer.keys[:, :, :n].clone() for layer in layers],
            [layer.values[:, :, :n].clone() for layer in layers],
        ))
        while len(self.saved) > self.max_slots - 1:
            self.saved.pop(0)  # the least recently used

    @torch.inference_mode()  # the cache's tensors were made in inference mode
    def _restore(self, saved: SavedSequence) -> None:
        n = len(saved.ids)
        for layer, keys, values in zip(self.cache.layers, saved.keys, saved.values):
            layer.keys[:, :, :n].copy_(keys)
            layer.values[:, :, :n].copy_(values)
        self.ids = saved.ids
        self._set_filled(n)

    @torch.inference_mode()  # the cache's tensors were made in inference mode
    def _set_filled(self, length: int) -> None:
        """Set the static cache's filled length: the next token is written at `length`, and attention sees
        nothing after it. (The library's StaticLayer.crop, where it exists, only shrinks it, by the same
        in-place update.)"""
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(length)

    # -- the forward ----------------------------------------------------------------------------------
    def _run(self, tokens: list[int], rows: int) -> torch.Tensor:
        """Append `tokens`; the logits after the last `rows` of them (one row per token)."""
        held, count = len(self.ids), len(tokens)
        if held + count > self.window:
            raise ValueError(f"the context window of {self.window} tokens is full")
        bucket = self._bucket(count, rows)
        with torch.inference_mode():
            if bucket is None:
                logits = self._forward(torch.tensor([tokens], device=self.device), rows)
            else:
                padded = torch.tensor([tokens + [tokens[-1]] * (bucket - count)], device=self.device)
                # A prefill keeps the last real token's row (a tensor index: every prompt length shares the
                # bucket's graph); a step or a verification keeps every row.
                last_only = rows == 1 and bucket > 1
                keep = torch.tensor([count - 1], device=self.device) if last_only else 0
                torch.compiler.cudagraph_mark_step_begin()
                logits = self.compiled(padded, keep)
                # A CUDA graph's output is overwritten by its next replay: keep a copy of the real rows.
                logits = (logits if last_only else logits[:count]).clone()
                if bucket > count:
                    self._set_filled(held + count)
            self.greedy_token = torch.argmax(logits[-1]) if rows == 1 else None
        self.ids.extend(tokens)
        return logits

    def _bucket(self, count: int, rows: int) -> int | None:
        """The compiled token count a forward of `count` tokens runs as: the step, a verification up to
        the plan's width (every row kept), a prefill bucket (the last row kept); None: uncompiled."""
        if count == 1:
            return 1
        if rows > 1:
            return self.plan.verify_width if count <= self.plan.verify_width else None
        return next((b for b in self.plan.prefill_buckets if b >= count), None)

    def _forward(self, input_ids: torch.Tensor, keep: int | torch.Tensor) -> torch.Tensor:
        """The model over the static cache; `keep`: logits_to_keep (the last n rows, or row indices)."""
        out = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=keep, **{self.cache_kw: self.cache})
        return out.logits[0]

    # -- at load --------------------------------------------------------------------------------------
    def compile_all(self, report: Callable[[str], None] = lambda message: None) -> float:
        """Compile (and on CUDA capture) every bucket now, so that no request pays for it; the seconds it
        took. Three runs per bucket: CUDA graph trees record on the third call of a shape."""
        start = time.perf_counter()
        for count, rows in self.programs:
            report(f"compiling the forward for {count} token{'s' if count > 1 else ''}")
            for _ in range(3):
                self._run([0] * count, rows)
                self.truncate(0)
        self.reset()
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds
