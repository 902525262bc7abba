"""A shared server that is overloaded: 429 (rate limit) or 503 (no capacity), often with Retry-After. The engine
backs off (no request until the pause is over) and the user is told once."""

from __future__ import annotations

import time

from ..base import EngineError

OVERLOADED = (429, 503)
# Without Retry-After: wait 1, 2, 4 ... seconds, at most 30; a Retry-After beyond 5 minutes is capped there.
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS, RETRY_AFTER_MAX_SECONDS = 1.0, 30.0, 300.0


class ServerBusy(EngineError):
    """The server answered 429/503: no request is sent until `retry_after` seconds have passed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Backoff:
    """After an overload answer, no request until the server's Retry-After (or 1, 2, 4 ... 30 s) has passed:
    a shared server that is drowning gets no keystroke traffic from this editor meanwhile."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.until = 0.0
        self.failures = 0

    def overloaded(self, retry_after: float | None) -> float:
        self.failures += 1
        if retry_after is None:
            wait = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self.failures - 1))
        else:
            wait = min(max(retry_after, 0.0), RETRY_AFTER_MAX_SECONDS)
        self.until = self.clock() + wait
        return wait

    def remaining(self) -> float:
        return max(0.0, self.until - self.clock())

    def succeeded(self) -> None:
        self.failures, self.until = 0, 0.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (`120`) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def overloaded_message(api_base: str) -> str:
    """The same words every time, so the server shows it once (it shows each distinct message once)."""
    return (
        f"the completion server at {api_base} is overloaded (HTTP 429/503): completions pause for as long as it "
        "asks (Retry-After) and resume by themselves"
    )
