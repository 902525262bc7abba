"""What the user did with the inline items: the accept command, didShowCompletion, didPartiallyAcceptCompletion,
and the retention checks that follow an accept (the counting itself is `codegen_lsp.acceptance`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Callable

from lsprotocol import types

from ..acceptance import AcceptanceTracker, default_counter_path
from ..lsp import (
    ACCEPT_COMMAND,
    DID_PARTIALLY_ACCEPT,
    DID_SHOW,
    DidPartiallyAcceptCompletionParams,
    DidShowCompletionParams,
    command_id,
    item_id,
)
from .base import Handler, LanguageFeature

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer
    from ..settings import Settings

# A retention check runs this long after it is due, so that the check finds it due on any clock.
RETENTION_SLACK_S = 0.05


class AcceptanceFeature(LanguageFeature):
    """Owns the `AcceptanceTracker` and the timer that wakes it for retention checks. `clock` and `wall_clock`
    time those checks and date the saved counters (tests pass their own)."""

    def __init__(
        self,
        server: CodegenLanguageServer,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(server)
        self.tracker = AcceptanceTracker(clock, wall_clock)
        self._retention_timer: asyncio.TimerHandle | None = None

    def handlers(self) -> list[Handler]:
        return [
            Handler(ACCEPT_COMMAND, self.accepted, command=True),
            Handler(DID_SHOW, self.did_show),
            Handler(DID_PARTIALLY_ACCEPT, self.did_partially_accept),
        ]

    # -- hooks -----------------------------------------------------------------------------------------------
    def initialize(self, params: types.InitializeParams) -> None:
        self.tracker.encoding = self.server.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def settings_changed(self, settings: Settings) -> None:
        self.tracker.persist(default_counter_path() if settings.persist_stats else None)

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        self.tracker.changed(params.text_document.uri, params.content_changes)

    def document_closed(self, uri: str) -> None:
        self.tracker.closed(uri)

    def close(self) -> None:
        self.tracker.save()

    # -- handlers --------------------------------------------------------------------------------------------
    def accepted(self, *arguments) -> None:
        self.tracker.accepted(command_id(list(arguments)))
        self.check_retention()

    def did_show(self, params: DidShowCompletionParams) -> None:
        self.tracker.shown(item_id(params.item))

    def did_partially_accept(self, params: DidPartiallyAcceptCompletionParams) -> None:
        self.tracker.partially_accepted(item_id(params.item), params.accepted_length)
        self.check_retention()

    # -- retention -------------------------------------------------------------------------------------------
    def check_retention(self) -> None:
        """Measure the retention checks that are due, and wake up again for the next one."""
        self.tracker.check_due(self.server.text_of)
        if self._retention_timer is not None:
            self._retention_timer.cancel()
            self._retention_timer = None
        due = self.tracker.next_due()
        if due is not None:
            delay = max(0.0, due - self.tracker.clock()) + RETENTION_SLACK_S
            self._retention_timer = asyncio.get_running_loop().call_later(delay, self.check_retention)
