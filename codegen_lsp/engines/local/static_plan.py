"""How the transformers engine decodes, chosen once at load into a frozen `StaticPlan`: over transformers'
own dynamic KV cache, eagerly (any model, any device), or over its `StaticCache` with the forward under
`torch.compile` for a few fixed token counts (the decode step, the verification of a draft, a few prefill
buckets), CUDA graphs on a GPU (`mode="reduce-overhead"`).

Why: an eager transformers forward on a GPU is bound by Python and kernel launches, not by the weights
(docs/engine.md: 16 ms a step for a 350M model whose weights take 0.24 ms to read; a captured step removes
most of it). On a CPU the arithmetic dominates and a static cache makes every step attend over all its
positions, so `auto` keeps the dynamic path there (benchmarks/engine.py --families measures both side by
side; docs/engine.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

DECODE_PLAN_CHOICES = ("auto", "static", "dynamic")
# Token counts the compiled forward is captured for, beyond the step (1) and the verification width: a
# keystroke extends the cached prompt by a few tokens, a paste by tens to hundreds. Longer new text runs the
# same forward uncompiled (compute-bound, once per document).
PREFILL_BUCKETS = (16, 64, 256)
# Positions the static cache holds (plus the largest bucket, where padding lands). Every step attends over
# all of them, so a model's full window (32k for Qwen2.5-Coder) would read, for a 1.5B model, about 30% more
# bytes per step than its weights; prompts are cut to this window instead.
STATIC_WINDOW = 4096


class PlanKind(StrEnum):
    DYNAMIC = "dynamic"  # transformers' DynamicCache, eager forward (every model, every device)
    STATIC = "static"  # StaticCache, the bucketed forward under torch.compile


@dataclass(frozen=True)
class StaticPlan:
    """What the transformers engine runs. Never changed in place: a failed compile is `DYNAMIC_PLAN`."""

    kind: PlanKind = PlanKind.DYNAMIC
    # torch.compile's mode: "reduce-overhead" (CUDA graphs) on a GPU, "default" (Inductor) on a CPU.
    compile_mode: str = "default"
    prefill_buckets: tuple[int, ...] = PREFILL_BUCKETS
    verify_width: int = 0  # tokens a verification runs padded to (draft tokens + 1); 0: no verification graph
    window: int = STATIC_WINDOW

    @property
    def static(self) -> bool:
        return self.kind is PlanKind.STATIC

    @property
    def name(self) -> str:
        """For runtime facts and logs: "dynamic", "static+compile(reduce-overhead)"."""
        return f"static+compile({self.compile_mode})" if self.static else "dynamic"

    def buckets(self) -> tuple[int, ...]:
        """Every token count the compiled forward is captured for."""
        return tuple(sorted({1, *((self.verify_width,) if self.verify_width > 1 else ()), *self.prefill_buckets}))


DYNAMIC_PLAN = StaticPlan()


def choose_plan(
    setting: str, device: str, draft_tokens: int = 0, *, spread: bool = False,
    prefill_buckets: tuple[int, ...] = PREFILL_BUCKETS,
) -> StaticPlan:
    """`decodePlan` for a model on `device`: "dynamic" and "static" as named; "auto" is static on CUDA and
    dynamic elsewhere (see the module docstring). A model spread over several devices (accelerate's
    device_map) decodes dynamically: one static cache and one captured graph need one device."""
    if setting not in DECODE_PLAN_CHOICES:
        raise ValueError(f"decodePlan must be one of {', '.join(DECODE_PLAN_CHOICES)}, not {setting!r}")
    cuda = device.startswith("cuda")
    if spread or setting == "dynamic" or (setting == "auto" and not cuda):
        return DYNAMIC_PLAN
    return StaticPlan(
        PlanKind.STATIC, compile_mode="reduce-overhead" if cuda else "default",
        prefill_buckets=tuple(sorted(prefill_buckets)), verify_width=draft_tokens + 1 if draft_tokens > 0 else 0,
    )


def with_window(plan: StaticPlan, model_window: int) -> StaticPlan:
    """The plan with its static window no longer than the model's."""
    return replace(plan, window=min(plan.window, model_window))
