"""Project context (docs/context.md): the workspace index built once the session starts, kept current from the
editor's documents (open, edit, save, close) and the client's file watcher; the completer asks it for the
definitions the code before the cursor refers to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..context import uri_path
from ..workspace_index.lsp_hooks import edit_of, start_indexing, watched_changes
from .base import Handler, LanguageFeature

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer
    from ..settings import Settings


class ProjectContextFeature(LanguageFeature):
    def __init__(self, server: CodegenLanguageServer) -> None:
        super().__init__(server)
        self.project = server.project_context
        self._initialized = False  # the watcher may be registered and $/progress sent only after `initialized`

    def handlers(self) -> list[Handler]:
        return [
            Handler(types.TEXT_DOCUMENT_DID_OPEN, self.did_open),
            Handler(types.TEXT_DOCUMENT_DID_SAVE, self.did_save),
            Handler(types.WORKSPACE_DID_CHANGE_WATCHED_FILES, self.did_change_watched_files),
        ]

    def initialized(self) -> None:
        self._initialized = True
        self._start(self.server.completer.settings)

    def settings_changed(self, settings: Settings) -> None:
        if self._initialized:  # turned on mid-session
            self._start(settings)

    def _start(self, settings: Settings) -> None:
        """Index the workspace in the background (setting projectContext), with $/progress; once per session."""
        if settings.project_context:
            start_indexing(self.server, self.project, self.server.start_progress)

    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self.project.opened(uri_path(params.text_document.uri), params.text_document.text)

    def did_save(self, params: types.DidSaveTextDocumentParams) -> None:
        self.project.saved(uri_path(params.text_document.uri), self.server.text_of(params.text_document.uri))

    def did_change_watched_files(self, params: types.DidChangeWatchedFilesParams) -> None:
        self.project.files_changed(watched_changes(params))

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        self.project.changed(*edit_of(self.server, params))

    def document_closed(self, uri: str) -> None:
        self.project.closed(uri_path(uri))

    def close(self) -> None:
        self.project.close()
