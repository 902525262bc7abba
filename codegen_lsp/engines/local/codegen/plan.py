"""The fast CodeGen engine's runtime choices, made once at load into a frozen `DecodePlan`: which decode
attention (PyTorch's SDPA, two batched products, or the split-KV Triton kernel), whether the decode step's
small per-layer ops run through torch.compile, and whether steps and verifications replay CUDA graphs.

`choose_plan` decides: where a choice is "auto" and graphs can be captured (CUDA), each candidate is timed
on the captured step and kept only where its logits agree with the reference; elsewhere the fixed answer
(sdpa, eager unless compile_step is "on"). A failed capture does not flip flags: it asks the plan for the
next one (`DecodePlan.after_failed_step_capture` / `after_failed_verify_capture`), a new frozen object."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import torch

from . import attention_kernel
from .graphs import bucket_length

log = logging.getLogger(__name__)

# Decode attention variants: PyTorch's fused SDPA kernel, two batched products with a float32 softmax,
# and a split-KV Triton kernel (attention_kernel.py) that reads only the filled positions.
ATTENTION_VARIANTS = ("sdpa", "matmul", "split")
# A variant whose logits differ from SDPA's by more than this (relative) at load is not used.
ATTENTION_AGREEMENT = 5e-2  # catches a broken kernel, not fp16 rounding over many layers
# The decode step with its small per-layer ops compiled (compile_step="on"; "auto" times it against eager
# at load and keeps the faster) must agree with the eager step this closely (relative logits).
STEP_AGREEMENT = 5e-2
COMPILE_STEP_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class DecodePlan:
    """What the decode step and the verification run: the attention variant, the compiled or eager layer
    functions, CUDA graphs or not. Never changed in place: a fallback is a new plan."""

    attention: str = "sdpa"
    compiled: bool = False
    graphs: bool = False
    verify_compiled: bool = False  # verifications use the compiled layer functions (only with a compiled step)
    verify_graphs: bool = False

    def after_failed_step_capture(self) -> DecodePlan:
        """A compiled step that cannot be captured: the eager one; an eager one: no graphs."""
        if self.compiled:
            return replace(self, compiled=False, verify_compiled=False)
        return replace(self, graphs=False, verify_graphs=False)

    def after_failed_verify_capture(self) -> DecodePlan:
        """A compiled verification that cannot be captured: eager layers; an eager one: no verify graphs."""
        if self.verify_compiled:
            return replace(self, verify_compiled=False)
        return replace(self, verify_graphs=False)


@dataclass
class PlanTimings:
    """What the choice at load measured (ms per captured step), for logs and benchmarks."""

    attention: dict[str, float] = field(default_factory=dict)
    compile: dict[str, float] = field(default_factory=dict)
    compile_agreement: float | None = None  # relative logit difference, compiled vs eager step


def check_requests(decode_attention: str, compile_step: str) -> None:
    if decode_attention not in ATTENTION_VARIANTS + ("auto",):
        raise ValueError(f"decode_attention must be auto or one of {ATTENTION_VARIANTS}, not {decode_attention!r}")
    if compile_step not in COMPILE_STEP_MODES:
        raise ValueError(f"compile_step must be one of {COMPILE_STEP_MODES}, not {compile_step!r}")


def fixed_plan(decode_attention: str, compile_step: str, graphs: bool) -> DecodePlan:
    """The plan without timing anything: "auto" attention is sdpa, "auto" compile is eager."""
    check_requests(decode_attention, compile_step)
    compiled = compile_step == "on"
    attention = "sdpa" if decode_attention == "auto" else decode_attention
    return DecodePlan(attention, compiled, graphs, verify_compiled=compiled, verify_graphs=graphs)


def choose_plan(model, decode_attention: str, compile_step: str, timings: PlanTimings, replays: int = 20) -> DecodePlan:
    """The plan for `model`, decided once at load. With graphs and an "auto" choice, the candidates are
    timed on the captured step over a synthetic prompt filling 3/4 of the window (the model's cache is
    left holding it; the caller forgets it)."""
    plan = fixed_plan(decode_attention, compile_step, model.graphs_possible)
    if not plan.graphs or "auto" not in (decode_attention, compile_step):
        return plan
    n = model.window * 3 // 4
    model.prefill([(i * 7919) % model.shape.vocab_size for i in range(n)])
    model.set_step_inputs(token=1, pos=n)
    length = bucket_length(n + 1, model.bucket, model.window)
    with torch.inference_mode(), model.on_device():
        if decode_attention == "auto":
            plan = choose_attention(model, plan, length, timings, replays)
        if plan.graphs and compile_step == "auto":
            plan = choose_compile(model, plan, length, timings, replays)
    return plan


def choose_attention(model, plan: DecodePlan, length: int, timings: PlanTimings, replays: int) -> DecodePlan:
    """Time the captured step with each attention variant; the fastest that agrees with the first that
    captures (SDPA where it does). None captures: no graphs."""
    variants = [v for v in ATTENTION_VARIANTS if v != "split" or attention_kernel.available()]
    reference = None
    for variant in variants:
        try:
            step_ms, result = model.time_captured_step(replace(plan, attention=variant), length, replays)
        except Exception as err:  # noqa: BLE001 - the other variants may still capture
            log.warning("CUDA graph capture with %s attention failed (%s)", variant, err)
            continue
        if reference is None:
            reference = result
        elif (result - reference).norm() > ATTENTION_AGREEMENT * reference.norm():
            log.warning("%s decode attention disagrees with %s; not using it", variant, variants[0])
            continue
        timings.attention[variant] = step_ms
    if not timings.attention:
        log.warning("CUDA graph capture failed; decoding without graphs")
        return replace(plan, graphs=False, verify_graphs=False)
    chosen = replace(plan, attention=min(timings.attention, key=timings.attention.get))
    log.info("decode attention: %s (captured step ms at %d positions: %s)", chosen.attention, length,
             {k: round(v, 3) for k, v in timings.attention.items()})
    return chosen


def choose_compile(model, plan: DecodePlan, length: int, timings: PlanTimings, replays: int) -> DecodePlan:
    """Time the captured step eager and compiled; keep the compiled step only if it captures, agrees with
    the eager step's logits and is faster. Any failure: eager."""
    eager = replace(plan, compiled=False, verify_compiled=False)
    compiled = replace(plan, compiled=True, verify_compiled=True)
    try:
        timings.compile["eager"], reference = model.time_captured_step(eager, length, replays)
    except Exception as err:  # noqa: BLE001 - the first bucket's capture reports it again
        log.warning("CUDA graph capture of the eager step failed (%s)", err)
        return eager
    try:
        timings.compile["compiled"], result = model.time_captured_step(compiled, length, replays)
    except Exception as err:  # noqa: BLE001 - compile or capture: either way the eager step is fine
        log.warning("compiled decode step unavailable (%s: %s); using the eager step", type(err).__name__, str(err)[:300])
        return eager
    timings.compile_agreement = float((result - reference).norm() / reference.norm())
    if not timings.compile_agreement <= STEP_AGREEMENT:  # NaN too
        log.warning("compiled decode step disagrees with the eager one (relative %.2e); not using it",
                    timings.compile_agreement)
        return eager
    chosen = compiled if timings.compile["compiled"] < timings.compile["eager"] else eager
    log.info("decode step: %s (captured step ms: %s; compiled vs eager logits relative %.1e)",
             "compiled" if chosen.compiled else "eager", {k: round(v, 3) for k, v in timings.compile.items()},
             timings.compile_agreement)
    return chosen
