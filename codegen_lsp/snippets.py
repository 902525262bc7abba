"""Snippets from the other open documents, ranked by how much they share with the code around the cursor.

Like Copilot's neighbouring tabs: every open document of the same language family is cut into windows of
lines, each window is scored by the Jaccard similarity of its identifiers with the lines just above the
cursor, and each document offers its best window. The query leaves out the cursor's own line, so that
typing within a line does not reshuffle the snippets (and the start of the prompt stays cacheable).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable

from .languages import language

WINDOW_LINES = 20
STRIDE = 10
QUERY_LINES = 20
CACHED_DOCUMENTS = 64  # documents whose windows are kept (one version each)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words every file of a language shares say nothing about relevance.
COMMON_WORDS = frozenset(
    "def class return if else elif for while in import from as with try except finally pass self None True "
    "False and or not is lambda yield const let var function new this null undefined true false int void char "
    "long float double unsigned struct static public private protected final package func type string bool "
    "err nil include define".split()
)


@dataclass(frozen=True)
class Neighbour:
    """Another open document."""

    path: str
    language: str
    text: str


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str
    score: float


def same_family(a: str, b: str) -> bool:
    return language(a).snippet_family == language(b).snippet_family


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in WORD.findall(text) if w not in COMMON_WORDS and len(w) > 1)


def query_of(prefix: str, lines: int = QUERY_LINES) -> str:
    """The lines above the cursor's line: what the snippets are ranked against."""
    above = prefix[: prefix.rfind("\n") + 1]
    return "\n".join(above.split("\n")[-lines - 1 :])


def rank_snippets(
    query: str, neighbours: Iterable[Neighbour], language: str, limit: int = 4, window_lines: int = WINDOW_LINES
) -> list[Snippet]:
    """The best window of each same-language neighbour, best first; windows that share nothing are left out."""
    wanted = words(query)
    if not wanted:
        return []
    found = []
    for neighbour in neighbours:
        if not same_family(neighbour.language, language) or not neighbour.text.strip():
            continue
        best = _best_window(WINDOWS.windows(neighbour.path, neighbour.text, window_lines), wanted)
        if best is not None:
            found.append(Snippet(neighbour.path, best[1], best[0]))
    found.sort(key=lambda s: (-s.score, s.path))
    return found[:limit]


def _best_window(windows, wanted: frozenset[str]) -> tuple[float, str] | None:
    best: tuple[float, str] | None = None
    for have, window in windows:
        score = len(have & wanted) / len(have | wanted)
        if score > 0 and (best is None or score > best[0]):
            best = (score, window)
    return best


class WindowCache:
    """Each document's windows, kept while the document is unchanged (other open documents rarely change
    between keystrokes): one entry per document, replaced when its text changes, for at most `documents`
    documents. Memory is bounded by documents, not by versions: keyed by text, a 1 MB neighbour edited 30
    times between completions kept 30 versions' windows."""

    def __init__(self, documents: int = CACHED_DOCUMENTS) -> None:
        self.documents = documents
        self._entries: OrderedDict[tuple[str, int], tuple[str, tuple]] = OrderedDict()
        self._lock = threading.Lock()

    def windows(self, path: str, text: str, window_lines: int) -> tuple[tuple[frozenset[str], str], ...]:
        key = (path, window_lines)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == text:
                self._entries.move_to_end(key)
                return entry[1]
        found = _windows(text, window_lines)
        with self._lock:
            self._entries[key] = (text, found)
            self._entries.move_to_end(key)
            while len(self._entries) > self.documents:
                self._entries.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._entries)


WINDOWS = WindowCache()


def _windows(text: str, window_lines: int) -> tuple[tuple[frozenset[str], str], ...]:
    """A document's windows of lines and their words."""
    lines = text.split("\n")
    found = []
    for start in range(0, max(len(lines) - window_lines, 0) + 1, STRIDE):
        window = "\n".join(lines[start : start + window_lines])
        have = words(window)
        if have:
            found.append((have, window))
    return tuple(found)


def neighbours_from(documents: Iterable, current_uri: str) -> list[Neighbour]:
    """The open documents (objects with uri, language_id and source, as the workspace holds them) other
    than the one being completed."""
    from .context import language_of, uri_path
    from .lsp.uris import uri_key

    found, current = [], uri_key(current_uri)
    for document in documents:
        if uri_key(document.uri) == current:
            continue
        path = uri_path(document.uri)
        found.append(Neighbour(path, language_of(document.language_id, path), document.source))
    return found
