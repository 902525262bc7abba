"""What the server holds, for status bars, benchmarks and tests: `codegen/stats` (counters, engine status,
acceptance) and `codegen/documentText` (the server's copy of an open document)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lsp import DOCUMENT_TEXT_REQUEST, STATS_REQUEST, DocumentTextParams
from .base import Handler, LanguageFeature

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer
    from .acceptance import AcceptanceFeature


class StatusFeature(LanguageFeature):
    def __init__(self, server: CodegenLanguageServer, acceptance: AcceptanceFeature) -> None:
        super().__init__(server)
        self.acceptance = acceptance

    def handlers(self) -> list[Handler]:
        return [Handler(STATS_REQUEST, self.stats), Handler(DOCUMENT_TEXT_REQUEST, self.document_text)]

    def stats(self, params: Any) -> dict:
        completer = self.server.completer
        running = {"max_running": completer.scheduler.max_running, "in_flight": self.server.protocol.in_flight()}
        self.acceptance.check_retention()
        acceptance = {"acceptance": self.acceptance.tracker.snapshot()}
        context = {"project_context": self.server.project_context.stats()}
        return {**completer.stats.snapshot(), **completer.status(), **running, **acceptance, **context}

    def document_text(self, params: DocumentTextParams) -> dict:
        """The open document's text and version (null text when it is not open)."""
        document = self.server.workspace.open_document(params.uri)
        if document is None:
            return {"uri": params.uri, "text": None, "version": None}
        return {"uri": params.uri, "text": document.source, "version": document.version}
