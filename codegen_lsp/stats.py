"""Local, private counters returned by the `codegen/stats` request. Nothing leaves the machine."""

from __future__ import annotations

import statistics
import threading
from collections import Counter, deque

COUNTERS = (
    "requests",
    "cache_hits",
    "typed_through_hits",
    "cancelled",
    "superseded",
    "model_calls",
    "errors",
    "empty_results",
    "tokens_prefilled",
    "tokens_reused",
    "tokens_generated",
    "tokens_wasted",  # decode steps whose text is not shown: cancelled, cut away (or re-decoded by token healing)
    "tokens_drafted",  # speculative decoding: tokens a drafter proposed
    "tokens_accepted",  # ... and the model agreed with (each one a model pass saved)
)


class Stats:
    def __init__(self, window: int = 2000) -> None:
        self._lock = threading.Lock()
        self._counts: Counter = Counter()
        self._latencies_ms: deque[float] = deque(maxlen=window)
        self._engine_ms: deque[float] = deque(maxlen=window)
        self._last: dict = {}

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def finish_request(self, trace: dict, server_ms: float) -> None:
        """An answered request: its time inside the server, and what served it (kept as `last`)."""
        with self._lock:
            self._latencies_ms.append(server_ms)
            self._last = {**trace, "server_ms": server_ms}

    def engine_latency(self, engine_ms: float) -> None:
        """Time spent in the engine for one model call."""
        with self._lock:
            self._engine_ms.append(engine_ms)

    def snapshot(self) -> dict:
        with self._lock:
            result = {name: self._counts[name] for name in COUNTERS}
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
