"""Finished completions, by what determines them, and typed-through lookups.

`CompletionCache` answers a repeated request (same model, settings and prompt) without the model.
`TypedThrough` answers while the user types the very text the last completion proposed: the rest of it
is still right, so it is served without calling the model (Copilot, Tabby and Continue do the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache, TTLCache

from .uris import uri_key


class CompletionCache:
    def __init__(self, entries: int, ttl_seconds: float) -> None:
        self.enabled = entries > 0
        size = max(entries, 1)
        self._items = TTLCache(maxsize=size, ttl=ttl_seconds) if ttl_seconds > 0 else LRUCache(maxsize=size)

    def get(self, key: tuple) -> list[str] | None:
        return self._items.get(key) if self.enabled else None

    def put(self, key: tuple, completions: list[str]) -> None:
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
    completions: tuple[str, ...]


class TypedThrough:
    """One entry per document (by `uri_key`: two spellings of one URI are one document, two URIs never share
    an entry): the completions last shown there."""

    def __init__(self, documents: int = 64) -> None:
        self._shown: LRUCache = LRUCache(maxsize=documents)

    def remember(self, uri: str, prefix: str, suffix: str, completions: list[str]) -> None:
        if completions:
            self._shown[uri_key(uri)] = Shown(prefix, suffix, tuple(completions))

    def lookup(self, uri: str, prefix: str, suffix: str) -> list[str] | None:
        """The rest of the shown completions, when the user has typed their start and nothing else changed."""
        shown: Shown | None = self._shown.get(uri_key(uri))
        if shown is None or suffix != shown.suffix or not prefix.startswith(shown.prefix):
            return None
        typed = prefix[len(shown.prefix) :]
        if not typed:
            return None  # same place: the completion cache answers that
        rest = [c[len(typed) :] for c in shown.completions if c.startswith(typed) and len(c) > len(typed)]
        rest = [r for r in rest if r.strip()]
        return rest or None

    def forget(self, uri: str) -> None:
        self._shown.pop(uri_key(uri), None)
