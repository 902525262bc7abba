"""Reading a streamed completion: server-sent events, OpenAI and llama.cpp chunks, usage counts, and the
loop that accumulates text until the server, a stop sequence, the stop check or a cancellation ends it."""

from __future__ import annotations

import json
from typing import AsyncIterator

from ..base import CancelToken, EngineError, Generation, GenerationRequest
from ..decoding.stopping import FinishReason, first_stop
from .errors import error_text


# -- pure helpers (unit-tested without a server) ------------------------------------------------------
async def read_stream(
    events: AsyncIterator[dict], request: GenerationRequest, cancel: CancelToken, should_stop, result: Generation
) -> Generation:
    """Accumulate streamed text until the server finishes, a stop sequence appears, should_stop says so
    or the request is cancelled (checked at every chunk; the caller also watches while no chunk comes)."""
    text, chunks = "", 0
    async for event in events:
        if cancel.cancelled:
            result.finish_reason = FinishReason.CANCELLED
            break
        piece, finish = parse_chunk(event)
        record_usage(event, result)
        if piece:
            text += piece
            chunks += 1
            result.generated_tokens = max(result.generated_tokens, chunks)  # counted as they arrive (for cancels)
        cut = first_stop(text, request.stop)
        if cut is not None:
            text, result.finish_reason = text[:cut], FinishReason.STOP
            break
        if should_stop is not None and text and should_stop(text):
            result.finish_reason = FinishReason.CUT
            break
        if finish:
            # Read on to the end ([DONE], a usage chunk): a fully read response keeps its connection for reuse.
            result.finish_reason = finish
    result.text = text
    return result


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    """JSON payloads of `data:` lines until `data: [DONE]` or the end of the stream (transformers serve
    sends no [DONE]; it closes the connection). A payload with an `error` becomes an EngineError."""
    async for line in lines:
        event = parse_sse_line(line)
        if event is DONE:
            return
        if event is not None:
            yield event


DONE = object()


def parse_sse_line(line: str):
    """One SSE line: a dict for a JSON `data:` line, DONE for `data: [DONE]`, None for anything else."""
    if not line.startswith("data:"):
        return None  # blank separators, comments (`: ping`), `event:` and `id:` lines
    data = line[len("data:") :].strip()
    if data == "[DONE]":
        return DONE
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        raise EngineError(f"the server stopped the completion: {error_text(event)}")
    return event


def parse_chunk(event: dict) -> tuple[str, FinishReason | None]:
    """(text, finish reason or None) from an OpenAI completion chunk or a llama.cpp /infill chunk."""
    choices = event.get("choices")
    if isinstance(choices, list):
        if not choices or not isinstance(choices[0], dict):
            return "", None  # vLLM's final usage-only chunk
        choice = choices[0]
        return str(choice.get("text") or ""), finish_reason(choice.get("finish_reason"))
    if "content" in event:  # llama.cpp's native format (/infill)
        finish = None
        if event.get("stop"):
            kinds = {"eos": FinishReason.EOS, "word": FinishReason.STOP, "limit": FinishReason.LENGTH}
            finish = kinds.get(event.get("stop_type"), FinishReason.EOS)
        return str(event.get("content") or ""), finish
    return "", None


def finish_reason(reason) -> FinishReason | None:
    if not reason:
        return None
    return FinishReason.LENGTH if reason == "length" else FinishReason.EOS


def record_usage(event: dict, result: Generation) -> None:
    """Token counts where the server reports them (OpenAI `usage`; llama.cpp `timings` with its cache hits)."""
    usage = event.get("usage")
    if isinstance(usage, dict):
        result.prompt_tokens = int(usage.get("prompt_tokens") or result.prompt_tokens)
        result.generated_tokens = int(usage.get("completion_tokens") or result.generated_tokens)
    timings = event.get("timings")
    if isinstance(timings, dict):
        cached, prefilled = int(timings.get("cache_n") or 0), int(timings.get("prompt_n") or 0)
        result.prompt_tokens = max(result.prompt_tokens, cached + prefilled)
        result.reused_tokens = cached
        result.generated_tokens = int(timings.get("predicted_n") or result.generated_tokens)

