"""Finished completions, by what determines them, and typed-through lookups.

`CompletionCache` answers a repeated request (same model, settings and prompt) without the model.
`TypedThrough` answers while the user types the very text the last completion proposed: the rest of it
is still right, so it is served without calling the model (Copilot, Tabby and Continue do the same).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Hashable

from cachetools import LRUCache, TTLCache

from .postprocess import Completion
from .lsp.uris import uri_key


@dataclass(frozen=True)
class CacheKey:
    """What determines a request's raw completions: the engine (its frozen config), the decoding settings, the
    completion mode, the prompt, and how many candidates were asked for."""

    engine: Hashable
    max_new_tokens: int
    temperature: float
    top_p: float
    mode: str
    prompt: str
    candidates: int

    def with_candidates(self, candidates: int) -> CacheKey:
        return replace(self, candidates=candidates)


class CompletionCache:
    """`clock` (seconds) ages the entries: tests pass their own, so that expiry needs no sleeping."""

    def __init__(self, entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = entries > 0
        size = max(entries, 1)
        self._items = TTLCache(maxsize=size, ttl=ttl_seconds, timer=clock) if ttl_seconds > 0 else LRUCache(maxsize=size)

    def get(self, key: Hashable) -> list[str] | None:
        return self._items.get(key) if self.enabled else None

    def put(self, key: Hashable, completions: list[str]) -> None:
        if self.enabled:
            self._items[key] = list(completions)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Shown:
    """What was last offered in a document: the text before and after the cursor, and the completions."""

    prefix: str
    suffix: str
    completions: tuple[Completion, ...]


class TypedThrough:
    """One entry per document (by `uri_key`: two spellings of one URI are one document, two URIs never share
    an entry): the completions last shown there."""

    def __init__(self, documents: int = 64) -> None:
        self._shown: LRUCache = LRUCache(maxsize=documents)

    def remember(self, uri: str, prefix: str, suffix: str, completions: list[Completion]) -> None:
        if completions:
            self._shown[uri_key(uri)] = Shown(prefix, suffix, tuple(completions))

    def lookup(self, uri: str, prefix: str, suffix: str) -> list[Completion] | None:
        """The rest of the shown completions, when the user has typed their start and nothing else changed.

        A completion that replaces closers (`a, b)` over `)`) goes on replacing what is left of them: the editor
        may have typed over some of them (the user typed `)` where one already was)."""
        shown: Shown | None = self._shown.get(uri_key(uri))
        if shown is None or not prefix.startswith(shown.prefix):
            return None
        typed = prefix[len(shown.prefix) :]
        typed_over = len(shown.suffix) - len(suffix)
        if not typed or typed_over < 0 or shown.suffix[typed_over:] != suffix:
            return None  # same place (the completion cache answers that), or the text after the cursor changed
        rest = [_rest(c, typed, typed_over) for c in shown.completions]
        rest = [r for r in rest if r is not None]
        return rest or None

    def forget(self, uri: str) -> None:
        self._shown.pop(uri_key(uri), None)


def _rest(completion: Completion, typed: str, typed_over: int) -> Completion | None:
    """What is left of `completion` once `typed` is typed and `typed_over` closers after it are typed over."""
    text = completion.text
    if typed_over > completion.replace or not text.startswith(typed) or not text[len(typed) :].strip():
        return None
    if completion.replace == 0:
        return Completion(text[len(typed) :])
    insertion = completion.insert_text
    insert_rest = insertion[len(typed) :] if typed_over == 0 and insertion.startswith(typed) else ""
    return Completion(text[len(typed) :], completion.replace - typed_over, insert_rest)
