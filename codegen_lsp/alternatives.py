"""Alternatives when the user asks explicitly (an invoked trigger): the usual greedy completion first, then
sampled ones, each with its own seed so that the same request gives the same list again."""

from __future__ import annotations

import dataclasses

from .engines.base import GenerationRequest

SAMPLING_TEMPERATURE = 0.8
SAMPLING_TOP_P = 0.95


def candidate_requests(request: GenerationRequest, n: int) -> list[GenerationRequest]:
    """`n` requests: `request` itself, then n-1 sampled variants (hotter than greedy when it was greedy)."""
    temperature = request.temperature if request.temperature > 0 else SAMPLING_TEMPERATURE
    top_p = request.top_p if request.top_p < 1.0 else SAMPLING_TOP_P
    variants = [
        dataclasses.replace(request, temperature=temperature, top_p=top_p, seed=seed) for seed in range(1, n)
    ]
    return [request, *variants]
