"""Reading a streamed completion: server-sent events, OpenAI and llama.cpp chunks, usage counts, and the
loop that accumulates text until the server, a stop sequence, the stop check, the token limit or a
cancellation ends it.

Nothing a server sends is trusted: a field of the wrong type is ignored (with one warning per field, per
engine) instead of failing the completion, a line longer than MAX_LINE_BYTES ends it with an error, a stream
that keeps sending ends at the request's token limit, and a stream is answered at its `finish_reason`
without waiting for the body to end (a server that never closes it cannot hold the answer back).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator

from ..base import CancelToken, EngineError, Generation, GenerationRequest
from ..decoding.stopping import FinishReason, first_stop
from .errors import error_text, shown

log = logging.getLogger(__name__)

# An SSE line longer than this is no completion chunk (a chunk is one token and its metadata; a 200 KB error
# message still fits): reading stops there instead of buffering whatever the server sends.
MAX_LINE_BYTES = 1 << 20
# Events without text (role chunks, usage, keep-alive data) that a stream may send beyond its token limit.
SPARE_EVENTS = 16


class FieldCheck:
    """Values read from a server, checked for their JSON type; a wrong one is ignored and logged once per field
    (a server that sends `"prompt_tokens": "12"` sends it in every chunk)."""

    def __init__(self, server: str = "the server") -> None:
        self.server = server
        self.warned: set[str] = set()

    def count(self, value: Any, name: str) -> int | None:
        """A token count: a non-negative integer, else None."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return self._ignored(name, "a non-negative integer")

    def text(self, value: Any, name: str) -> str:
        """Generated text: a string, else ''."""
        if value is None or isinstance(value, str):
            return value or ""
        self._ignored(name, "a string")
        return ""

    def word(self, value: Any, name: str) -> str | None:
        """A short keyword (a finish reason, a stop type): a string, else None."""
        if value is None or isinstance(value, str):
            return value
        return self._ignored(name, "a string")

    def _ignored(self, name: str, expected: str) -> None:
        if name not in self.warned:
            self.warned.add(name)
            log.warning("%s sent `%s` that is not %s; ignoring it", self.server, name, expected)
        return None


def read_stream(
    events: Iterable[dict],
    request: GenerationRequest,
    cancel: CancelToken,
    should_stop,
    result: Generation,
    check: FieldCheck,
    max_chars: int,
) -> Generation:
    """Accumulate streamed text into `result` until the server finishes, a stop sequence appears, should_stop
    says so, the request's token limit (max_new_tokens pieces, or max_chars characters) is reached or the
    request is cancelled. `result.text` holds what came so far at every step (a cancel keeps it)."""
    text, pieces, events_read = "", 0, 0
    limit = request.max_new_tokens
    for event in events:
        events_read += 1
        if cancel.cancelled:
            result.finish_reason = FinishReason.CANCELLED
            break
        piece, finish = parse_chunk(event, check)
        if piece and (pieces >= limit or len(text) >= max_chars):  # more than was asked for: a runaway stream
            result.finish_reason = FinishReason.LENGTH
            break
        record_usage(event, result, check)
        if piece:
            text += piece[: max_chars - len(text)]
            pieces += 1
            result.generated_tokens = max(result.generated_tokens, pieces)  # counted as they arrive (for cancels)
        cut = first_stop(text, request.stop)
        if cut is not None:
            text, result.finish_reason = text[:cut], FinishReason.STOP
            break
        result.text = text
        if should_stop is not None and text and should_stop(text):
            result.finish_reason = FinishReason.CUT
            break
        if finish:
            result.finish_reason = finish  # answered now: what follows ([DONE], a usage chunk) may never come
            break
        if events_read >= limit + SPARE_EVENTS:  # events without text, on and on
            result.finish_reason = FinishReason.LENGTH
            break
    result.text = text
    return result


def lines_of(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a byte stream (LF or CRLF ends), decoded as UTF-8 once whole (a character split between
    chunks comes out whole); EngineError for a line longer than max_line."""
    buffer = bytearray()
    for chunk in chunks:
        start = len(buffer)
        buffer += chunk
        end = buffer.find(b"\n", start)
        begin = 0
        while end >= 0:
            yield bytes(buffer[begin:end]).rstrip(b"\r").decode("utf-8", "replace")
            begin = end + 1
            end = buffer.find(b"\n", begin)
        del buffer[:begin]
        if len(buffer) > max_line:
            raise EngineError(f"the server sent a line of over {max_line} bytes in a completion stream")
    if buffer:
        yield bytes(buffer).rstrip(b"\r").decode("utf-8", "replace")


def sse_events(lines: Iterable[str]) -> Iterator[dict]:
    """JSON payloads of `data:` lines until `data: [DONE]` or the end of the stream (transformers serve
    sends no [DONE]; it closes the connection). A payload with an `error` becomes an EngineError."""
    for line in lines:
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
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        raise EngineError(f"the server stopped the completion: {shown(error_text(event))}")
    return event


def parse_chunk(event: dict, check: FieldCheck | None = None) -> tuple[str, FinishReason | None]:
    """(text, finish reason or None) from an OpenAI completion chunk or a llama.cpp /infill chunk."""
    check = check or FieldCheck()
    choices = event.get("choices")
    if isinstance(choices, list):
        if not choices or not isinstance(choices[0], dict):
            return "", None  # vLLM's final usage-only chunk
        choice = choices[0]
        text = check.text(choice.get("text"), "choices[].text")
        return text, finish_reason(check.word(choice.get("finish_reason"), "choices[].finish_reason"))
    if "content" in event:  # llama.cpp's native format (/infill)
        finish = None
        if event.get("stop") is True:
            kinds = {"eos": FinishReason.EOS, "word": FinishReason.STOP, "limit": FinishReason.LENGTH}
            finish = kinds.get(check.word(event.get("stop_type"), "stop_type"), FinishReason.EOS)
        return check.text(event.get("content"), "content"), finish
    return "", None


def finish_reason(reason) -> FinishReason | None:
    if not reason:
        return None
    return FinishReason.LENGTH if reason == "length" else FinishReason.EOS


def record_usage(event: dict, result: Generation, check: FieldCheck) -> None:
    """Token counts where the server reports them (OpenAI `usage`; llama.cpp `timings` with its cache hits)."""
    usage = event.get("usage")
    if isinstance(usage, dict):
        prompt = check.count(usage.get("prompt_tokens"), "usage.prompt_tokens")
        generated = check.count(usage.get("completion_tokens"), "usage.completion_tokens")
        result.prompt_tokens = prompt or result.prompt_tokens
        result.generated_tokens = generated or result.generated_tokens
    timings = event.get("timings")
    if isinstance(timings, dict):
        cached = check.count(timings.get("cache_n"), "timings.cache_n") or 0
        prefilled = check.count(timings.get("prompt_n"), "timings.prompt_n") or 0
        result.prompt_tokens = max(result.prompt_tokens, cached + prefilled)
        result.reused_tokens = cached
        result.generated_tokens = check.count(timings.get("predicted_n"), "timings.predicted_n") or result.generated_tokens
