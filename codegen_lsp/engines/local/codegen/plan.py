"""The fast CodeGen engine's runtime choices, made once at load on a GPU: which decode attention
(PyTorch's SDPA, two batched products, or the split-KV Triton kernel) and whether the decode step's small
per-layer ops run through torch.compile. Each is timed on the captured step and kept only where its logits
agree with the reference; `DecodePlan` records what was chosen."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from . import attention_kernel
from .graphs import bucket_length

log = logging.getLogger(__name__)

# Decode attention variants: PyTorch's fused SDPA kernel, two batched products with a float32 softmax,
# and a split-KV Triton kernel (decode_attention.py) that reads only the filled positions.
ATTENTION_VARIANTS = ("sdpa", "matmul", "split")
# A variant whose logits differ from SDPA's by more than this (relative) at load is not used.
ATTENTION_AGREEMENT = 5e-2  # catches a broken kernel, not fp16 rounding over many layers
# The decode step with its small per-layer ops compiled (compile_step="on"; "auto" times it against eager
# at load and keeps the faster) must agree with the eager step this closely (relative logits).
STEP_AGREEMENT = 5e-2
COMPILE_STEP_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class DecodePlan:
    """What the decode step runs: the attention variant, the compiled or eager layer functions, CUDA
    graphs or not."""

    attention: str
    compiled: bool
    graphs: bool


def choose_decode_attention(model, replays: int = 20) -> None:
    """Time the captured step with each attention variant at the current token and position (it
    writes only that position, as a capture does); keep the fastest that agrees with SDPA."""
    length = bucket_length(int(model._pos) + 1, model.bucket, model.window)
    variants = [v for v in ATTENTION_VARIANTS if v != "split" or attention_kernel.available()]
    reference = None
    with torch.inference_mode(), model._on_device():
        for variant in variants:
            model.decode_attention = variant
            try:
                step_ms, result = model._time_captured_step(length, replays)
            except Exception as err:  # noqa: BLE001 - the other variants may still capture
                log.warning("CUDA graph capture with %s attention failed (%s)", variant, err)
                continue
            if reference is None:
                reference = result
            elif (result - reference).norm() > ATTENTION_AGREEMENT * reference.norm():
                log.warning("%s decode attention disagrees with %s; not using it", variant, variants[0])
                continue
            model.attention_timings[variant] = step_ms
    model.decode_attention = min(model.attention_timings, key=model.attention_timings.get, default="sdpa")
    if not model.attention_timings:
        log.warning("CUDA graph capture failed; decoding without graphs")
        model.graphs = False
    log.info("decode attention: %s (captured step ms at %d positions: %s)", model.decode_attention,
             int(model._pos) + 1, {k: round(v, 3) for k, v in model.attention_timings.items()})


def choose_step_compile(model, replays: int = 20) -> None:
    """Time the captured step eager and compiled at the current token and position; keep the compiled
    step only if it captures, agrees with the eager step's logits and is faster. Any failure: eager."""
    length = bucket_length(int(model._pos) + 1, model.bucket, model.window)
    model.compile_step = "off"
    with torch.inference_mode(), model._on_device():
        model.step_compiled = False
        try:
            model.compile_timings["eager"], reference = model._time_captured_step(length, replays)
        except Exception as err:  # noqa: BLE001 - the first bucket's capture reports it again
            log.warning("CUDA graph capture of the eager step failed (%s)", err)
            return
        model.step_compiled = True
        try:
            model.compile_timings["compiled"], result = model._time_captured_step(length, replays)
        except Exception as err:  # noqa: BLE001 - compile or capture: either way the eager step is fine
            log.warning("compiled decode step unavailable (%s: %s); using the eager step",
                        type(err).__name__, str(err)[:300])
            model.step_compiled = False
            return
        model.compile_agreement = float((result - reference).norm() / reference.norm())
        if not model.compile_agreement <= STEP_AGREEMENT:  # NaN too
            log.warning("compiled decode step disagrees with the eager one (relative %.2e); not using it",
                        model.compile_agreement)
            model.step_compiled = False
        else:
            model.step_compiled = model.compile_timings["compiled"] < model.compile_timings["eager"]
    model.compile_step = "on" if model.step_compiled else "off"
    log.info("decode step: %s (captured step ms: %s; compiled vs eager logits relative %s)",
             "compiled" if model.step_compiled else "eager",
             {k: round(v, 3) for k, v in model.compile_timings.items()},
             f"{model.compile_agreement:.1e}" if model.compile_agreement is not None else "–")
