"""Local, private counters returned by the `codegen/stats` request. Nothing leaves the machine."""

from __future__ import annotations

import statistics
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from enum import Enum


class Count(str, Enum):
    """The counters of `codegen/stats`: a closed set, so a misspelt one fails where it is counted."""

    REQUESTS = "requests"
    CACHE_HITS = "cache_hits"
    TYPED_THROUGH_HITS = "typed_through_hits"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    MODEL_CALLS = "model_calls"
    ERRORS = "errors"
    EMPTY_RESULTS = "empty_results"
    TOKENS_PREFILLED = "tokens_prefilled"
    TOKENS_REUSED = "tokens_reused"
    TOKENS_GENERATED = "tokens_generated"
    TOKENS_WASTED = "tokens_wasted"  # decode steps whose text is not shown: cancelled, cut away (or re-decoded by token healing)
    TOKENS_DRAFTED = "tokens_drafted"  # speculative decoding: tokens a drafter proposed
    TOKENS_ACCEPTED = "tokens_accepted"  # ... and the model agreed with (each one a model pass saved)


class Outcome(str, Enum):
    """What answered a request."""

    TYPED_THROUGH = "typed_through"
    CACHE = "cache"
    MODEL = "model"


@dataclass
class Trace:
    """What served one request, shown as `last` in `codegen/stats` (fields still None were not part of it)."""

    outcome: Outcome | None = None
    snippets: int | None = None  # snippets of other documents in the prompt
    snippet_tokens: int | None = None
    retrieved: int | None = None  # of those snippets, the ones from the workspace index (docs/context.md)
    engine_ms: float | None = None  # the model call: its time, tokens, passes and why it ended
    prefilled: int | None = None
    reused: int | None = None
    generated: int | None = None
    passes: int | None = None
    accepted: int | None = None
    finish: str | None = None

    def shown(self) -> dict:
        return {name: value for name, value in asdict(self).items() if value is not None}


class Stats:
    def __init__(self, window: int = 2000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()
        self._latencies_ms: deque[float] = deque(maxlen=window)
        self._engine_ms: deque[float] = deque(maxlen=window)
        self._last: dict = {}

    def count(self, counter: Count, amount: int = 1) -> None:
        counter = Count(counter)  # ValueError for a name that is no counter
        with self._lock:
            self._counts[counter] += amount

    def finish_request(self, trace: Trace, server_ms: float) -> None:
        """An answered request: its time inside the server, and what served it (kept as `last`)."""
        with self._lock:
            self._latencies_ms.append(server_ms)
            self._last = {**trace.shown(), "server_ms": server_ms}

    def engine_latency(self, engine_ms: float) -> None:
        """Time spent in the engine for one model call."""
        with self._lock:
            self._engine_ms.append(engine_ms)

    def snapshot(self) -> dict:
        with self._lock:
            result: dict = {counter.value: self._counts[counter] for counter in Count}
            result["latency_ms"] = percentiles(self._latencies_ms)
            result["engine_ms"] = percentiles(self._engine_ms)
            result["last"] = dict(self._last)
        return result


def percentiles(values) -> dict:
    data = sorted(values)
    if not data:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    p95 = data[min(len(data) - 1, int(round(0.95 * (len(data) - 1))))]
    return {"count": len(data), "p50": statistics.median(data), "p95": p95, "max": data[-1]}
