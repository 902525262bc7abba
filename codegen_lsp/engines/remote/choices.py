"""Alternatives from a shared server in one request: sampled requests that differ only in their seed become
one request with `n` (vLLM batches the choices; llama.cpp decodes them on parallel slots after one prefill,
`n_cmpl` on /infill), and what the server sends back is read per choice."""

from __future__ import annotations

import dataclasses

from ..base import Generation, GenerationRequest
from ..decoding.stopping import FinishReason, first_stop
from .streaming import FieldCheck, parse_chunk


def server_kind(entries: list) -> str:
    """llama.cpp marks its models `owned_by: llamacpp`; everything else is treated as plain OpenAI."""
    return "llamacpp" if any(isinstance(e, dict) and e.get("owned_by") == "llamacpp" for e in entries) else "openai"


def for_server(body: dict, kind: str, n: int = 1) -> dict:
    """What a given server adds to a request body. llama.cpp: `cache_prompt` (reuse the slot's KV cache for the
    common prefix; the default in recent versions, said explicitly for older ones) and `n_cmpl` on /infill.
    Other servers get only standard fields (transformers serve refuses unknown ones with 422)."""
    if n > 1:
        body["n_cmpl" if "input_prefix" in body else "n"] = n
    if kind == "llamacpp":
        body["cache_prompt"] = True
    return body


def seed_groups(requests: list[GenerationRequest], max_choices: int | None) -> list[list[int]]:
    """Indices of sampled requests that differ only in their seed, grouped (each group becomes one request
    with n), at most max_choices per group; greedy requests stay alone; order kept."""
    groups: list[list[int]] = []
    keys: list[GenerationRequest] = []
    for i, request in enumerate(requests):
        key = dataclasses.replace(request, seed=None)
        for group, group_key in zip(groups, keys):
            if group_key == key and request.temperature > 0 and (max_choices is None or len(group) < max_choices):
                group.append(i)
                break
        else:
            groups.append([i])
            keys.append(key)
    return groups


def parse_choices(payload, check: FieldCheck | None = None) -> list[tuple[str, FinishReason | None]]:
    """(text, finish reason) per choice, by index: OpenAI `choices`, or llama.cpp /infill's list of results.
    Fields of the wrong type are ignored (see FieldCheck)."""
    check = check or FieldCheck()

    def index(item: dict) -> int:
        return check.count(item.get("index"), "choices[].index") or 0

    if isinstance(payload, dict) and isinstance(payload.get("choices"), list):
        items = sorted((c for c in payload["choices"] if isinstance(c, dict)), key=index)
        return [parse_chunk({"choices": [c]}, check) for c in items]
    results = payload if isinstance(payload, list) else [payload] if isinstance(payload, dict) else []
    return [parse_chunk({**r, "stop": True}, check) for r in sorted((r for r in results if isinstance(r, dict)), key=index)]


def choice_generation(text: str, finish: FinishReason | None, request: GenerationRequest) -> Generation:
    cut = first_stop(text, request.stop)
    if cut is not None:
        return Generation(text=text[:cut], finish_reason=FinishReason.STOP)
    return Generation(text=text, finish_reason=finish or FinishReason.LENGTH)
