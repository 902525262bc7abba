"""One model thread, newest request wins.

Every piece of model work (loading, generating) runs on one dedicated thread, never on pygls' own pool,
so that the protocol keeps flowing while the model works. When a new completion request arrives, the
one in flight is told to stop at its next decode step and the ones still queued never reach the model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from .engines.base import CancelToken

log = logging.getLogger(__name__)
T = TypeVar("T")


class Superseded(Exception):
    """A newer request took this one's place before or while it ran."""


class Stopped(Exception):
    """The job stopped because its own request was cancelled (or the server is shutting down)."""


class Scheduler:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codegen-model")
        self._latest: CancelToken | None = None
        self._lock = threading.Lock()
        self.running = 0  # generations running right now; never more than one
        self.max_running = 0

    async def generate(self, job: Callable[[CancelToken], T]) -> T:
        """Run `job(cancel)` on the model thread as the newest request; older requests are cancelled.

        Raises Superseded when a newer request arrived first, and asyncio.CancelledError (after
        telling the job to stop) when the awaiting request itself is cancelled.
        """
        token = CancelToken()
        with self._lock:
            if self._latest is not None:
                self._latest.cancel("superseded")
            self._latest = token
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run, job, token)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            token.cancel("cancelled")
            # Nobody awaits the job now: read its outcome (Superseded, Stopped) when it ends, or asyncio logs
            # "Future exception was never retrieved" at ERROR for every cancelled request.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise

    def _run(self, job: Callable[[CancelToken], T], token: CancelToken) -> T:
        if token.cancelled:
            raise Superseded()
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            return job(token)
        finally:
            with self._lock:
                self.running -= 1

    async def call(self, work: Callable[[], T]) -> T:
        """Run other model work (loading, unloading) in order on the model thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def cancel_all(self) -> None:
        with self._lock:
            if self._latest is not None:
                self._latest.cancel("shutdown")

    def shutdown(self) -> None:
        self.cancel_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
