"""The workspace index for one server session: built on a worker thread (never on the event loop, never on the
model thread), kept current from the editor's documents and the client's file watcher, and asked for the
retrieved block of each prompt.

Every change to the index runs on the one worker thread, in the order it arrived. Typing is debounced: a
document is indexed again DEBOUNCE_SECONDS after its last change (parsing a long file on every keystroke would
take the interpreter from the event loop for milliseconds each time).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from ..stats import percentiles
from .files import Limits
from .index import WorkspaceIndex
from .retrieval import RecentEdits, Retrieved, retrieve

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3
WORD_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$"
WATCHED_GLOBS = ("**/*.{py,js,jsx,mjs,cjs,ts,tsx,go}", "**/.gitignore")

Report = Callable[[str, int | None], None]


class ProjectContext:
    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.index: WorkspaceIndex | None = None
        self.recent = RecentEdits()
        self.built = threading.Event()  # set once the first build is done (tests and benchmarks wait on it)
        self.requested = False  # the server asked for the index (once per session)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workspace-index")
        self._pending: dict[str, tuple[str, Callable[[], str | None], int]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._retrieval_ms: deque[float] = deque(maxlen=2000)
        self._build_seconds: float | None = None
        self._last: tuple | None = None  # (key, blocks): the last retrieval, for keystrokes that change nothing it reads
        self._closed = False

    # -- building ---------------------------------------------------------------------------------------------
    def start(self, roots: list[str], report: Report | None = None) -> Future | None:
        """Index the workspace folders on the worker; None when there is none (a single file opened)."""
        if self.index is not None or not roots:
            return None
        self.index = WorkspaceIndex(roots, self.limits)
        return self._submit(self._build, report)

    def _build(self, report: Report | None) -> None:
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if report is not None:
                report(f"indexed {done}/{total} files", int(100 * done / max(total, 1)))

        assert self.index is not None
        self.index.build(progress, stopped=lambda: self._closed)
        self._build_seconds = time.perf_counter() - started
        self.built.set()
        log.info("workspace index: %s in %.1f s", self.index.size(), self._build_seconds)

    def _submit(self, work, *args) -> Future | None:
        if self._closed:
            return None
        future = self._worker.submit(work, *args)
        future.add_done_callback(_log_failure)
        return future

    # -- the editor's documents and the file watcher -------------------------------------------------------------
    def opened(self, path: str, text: str) -> None:
        if self.index is not None:
            self.index.mark_open(path)  # at once: a file event queued after this must not win over the editor
            self._submit(self.index.update, path, text)

    def changed(self, path: str, language_id: str, line: int, text_of: Callable[[], str | None]) -> None:
        """A document changed at `line`: indexed again (and its edit remembered) once typing pauses."""
        if self.index is None:
            return
        self._pending[path] = (language_id, text_of, line)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self.flush)

    def flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        for path, (language_id, text_of, line) in pending.items():
            text = text_of()
            if text is None or self.index is None:
                continue
            self.recent.record(path, language_id, line, text)
            self._submit(self.index.update, path, text)

    def saved(self, path: str, text: str | None) -> None:
        if self.index is not None and text is not None:
            self._submit(self.index.update, path, text)

    def closed(self, path: str) -> None:
        if self.index is not None:
            self._submit(self.index.closed, path)

    def files_changed(self, changes: Iterable[tuple[str, bool]]) -> None:
        """The client's file watcher: (path, deleted) for each file created, changed or deleted on disk."""
        if self.index is None:
            return
        for path, deleted in changes:
            if path.endswith(".gitignore"):
                self._submit(self._rebuild)
                return
            if deleted:
                self.recent.forget(path)
                self._submit(self.index.remove, path)
            elif not self.index.is_open(path):  # an open document's text wins over the disk
                self._submit(self.index.update, path)

    def _rebuild(self) -> None:
        if self.index is not None:
            self.index.rebuild(stopped=lambda: self._closed)

    # -- retrieval --------------------------------------------------------------------------------------------------
    def retrieve(
        self, prefix: str, line_suffix: str, path: str, language_id: str, budget: int, measure: Callable[[Retrieved], int]
    ) -> list[Retrieved]:
        """The retrieved blocks for a prompt (none before the first build ends); timed for codegen/stats."""
        if self.index is None or not self.built.is_set() or budget <= 0:
            return []
        started = time.perf_counter()
        recent = tuple(self.recent.others(path, language_id))
        # Typing a word changes no reference: the same answer as for the word's first letter.
        key = (path, language_id, budget, self.index.generation, prefix.rstrip(WORD_CHARACTERS), line_suffix, recent)
        if self._last is not None and self._last[0] == key:
            blocks = self._last[1]
        else:
            blocks = retrieve(self.index, prefix, line_suffix, path, language_id, budget, measure, recent)
            self._last = (key, blocks)
        self._retrieval_ms.append((time.perf_counter() - started) * 1000)
        return blocks

    def stats(self) -> dict:
        size = self.index.size() if self.index is not None else {"files": 0, "definitions": 0}
        return {
            **size,
            "built": self.built.is_set(),
            "build_seconds": self._build_seconds,
            "retrieval_ms": percentiles(self._retrieval_ms),
        }

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._worker.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("workspace index: %r", future.exception(), exc_info=future.exception())
