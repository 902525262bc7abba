"""The session: initialize (settings from initializationOptions, the parent process watched), initialized (the
model loads), didChangeConfiguration, the document notifications every feature follows, shutdown and exit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..lifecycle import exit_now, watch_parent
from .base import Handler, LanguageFeature

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer


class SessionFeature(LanguageFeature):
    """`features`: every feature of the server, told about the session, settings and documents in turn."""

    def __init__(self, server: CodegenLanguageServer, features: list[LanguageFeature]) -> None:
        super().__init__(server)
        self.features = features
        self.pending_messages: list[str] = []  # settings warnings from initialize, shown once initialized

    def handlers(self) -> list[Handler]:
        return [
            Handler(types.INITIALIZE, self.initialize_session),
            Handler(types.INITIALIZED, self.initialized),
            Handler(types.WORKSPACE_DID_CHANGE_CONFIGURATION, self.did_change_configuration),
            Handler(types.TEXT_DOCUMENT_DID_CHANGE, self.did_change),
            Handler(types.TEXT_DOCUMENT_DID_CLOSE, self.did_close),
            Handler(types.SHUTDOWN, self.shutdown),
            Handler(types.EXIT, self.exit),
        ]

    def initialize_session(self, params: types.InitializeParams) -> None:
        server = self.server
        for feature in self.features:
            feature.initialize(params)
        self.pending_messages = server.apply_settings(params.initialization_options, server.flag_settings)
        watch_parent(params.process_id, lambda: exit_now(server.close))

    def initialized(self, params: types.InitializedParams) -> None:
        self.server.show_warnings(self.pending_messages)
        self.pending_messages = []
        self.server.request_load()
        for feature in self.features:
            feature.initialized()

    def did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        self.server.show_warnings(self.server.apply_settings(params.settings, self.server.completer.settings))
        self.server.send_status()

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        for feature in self.features:
            feature.document_changed(params)

    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        for feature in self.features:
            feature.document_closed(params.text_document.uri)

    def shutdown(self, params: Any) -> None:
        self.server.close()

    def exit(self, params: Any) -> None:
        self.server.completer.close()  # exit without shutdown, mid-generation: stop the model thread first
