"""The language server: the LSP face of the `Completer`. Its features (codegen_lsp/features) answer the methods;
the server holds what they share (the completer, the settings, the model loading and the messages shown to the
user) and `create_server` wires them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .completion import Completer
from .features import (
    AcceptanceFeature,
    CompletionFeature,
    LanguageFeature,
    ProjectContextFeature,
    SessionFeature,
    StatusFeature,
    as_function,
)
from .lsp import STATUS_NOTIFICATION, CodegenProtocol, OwnTransport
from .settings import Settings, parse_settings
from .workspace_index.service import ProjectContext

log = logging.getLogger(__name__)


class CodegenLanguageServer(OwnTransport, LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("codegen-lsp", __version__, protocol_cls=CodegenProtocol)
        self.flag_settings = settings
        self.project_context = ProjectContext()  # the workspace index (features/project_context.py keeps it)
        self.completer = Completer(settings, on_error=self.show_error_once, project=self.project_context)
        self.features: list[LanguageFeature] = []
        self._shown_errors: set[str] = set()
        self._load_task: asyncio.Task | None = None
        self._load_again = False

    def add_feature(self, feature: LanguageFeature) -> None:
        """Register the feature's handlers; it hears the session, settings and document hooks from now on."""
        for handler in feature.handlers():
            register = self.command(handler.method) if handler.command else self.feature(handler.method, handler.options)
            register(as_function(handler.function))
        self.features.append(feature)

    def report_server_error(self, error, source) -> None:
        """A handler failed (a bug of ours; protocol.py logged it): one message per kind of failure, never one
        per message (pygls' default shows a popup for each)."""
        self.show_error_once(f"internal error ({type(error).__name__}); the log has details")

    # -- messages --------------------------------------------------------------------------------------
    def show_error_once(self, message: str) -> None:
        """Errors the user must see: one showMessage per distinct message, never one per keystroke."""
        if message in self._shown_errors:
            return
        self._shown_errors.add(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"codegen-lsp: {message}"))

    def show_warnings(self, messages: list[str]) -> None:
        for message in messages:
            log.warning("settings: %s", message)
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=f"codegen-lsp settings: {message}")
            )

    def send_status(self) -> None:
        self.protocol.notify(STATUS_NOTIFICATION, self.completer.status())

    # -- settings and model loading ------------------------------------------------------------------------
    def apply_settings(self, raw, base: Settings) -> list[str]:
        """Take new settings; reload the model when they name another one (and it was loaded before)."""
        settings, messages = parse_settings(raw, base)
        logging.getLogger("codegen_lsp").setLevel(settings.log_level.upper())
        for feature in self.features:
            feature.settings_changed(settings)
        if self.completer.update_settings(settings) and self._load_task is not None:
            self.request_load()
        return messages

    def request_load(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_again = True  # settings changed mid-load: load once more when this one ends
            return
        self._load_task = asyncio.ensure_future(self._load_loop())

    async def _load_loop(self) -> None:
        while True:
            self._load_again = False
            self._shown_errors.clear()  # a new load may fail differently; say it again
            await self._load_with_progress()
            if not self._load_again:
                return

    async def _load_with_progress(self) -> None:
        token = str(uuid.uuid4())
        progress = await self.start_progress(token, f"loading {self.completer.settings.model}")
        loop = asyncio.get_running_loop()

        def report(message: str, percentage: int | None) -> None:
            log.info("loading: %s", message)
            if progress:
                value = types.WorkDoneProgressReport(message=message, percentage=percentage)
                loop.call_soon_threadsafe(self.work_done_progress.report, token, value)

        self.send_status()
        ok = await self.completer.load(report)
        if progress:
            message = "ready" if ok else f"failed: {self.completer.error}"
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        self.send_status()

    async def start_progress(self, token: str, title: str) -> bool:
        window = self.client_capabilities.window
        if not (window and window.work_done_progress):
            return False
        try:
            await asyncio.wait_for(self.work_done_progress.create_async(token), timeout=5)
        except Exception:
            log.info("client did not accept a progress token; loading without $/progress")
            return False
        self.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title="codegen-lsp", message=title, percentage=0, cancellable=False)
        )
        return True

    def close(self) -> None:
        """At shutdown, or when the editor went away without one: keep the counters, stop the model."""
        for feature in self.features:
            feature.close()
        self.completer.close()

    def text_of(self, uri: str) -> str | None:
        """The open document's text, or None."""
        document = self.workspace.open_document(uri)
        return document.source if document is not None else None


def create_server(
    settings: Settings, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
) -> CodegenLanguageServer:
    """The server; `clock` and `wall_clock` time the acceptance retention checks (tests pass their own)."""
    server = CodegenLanguageServer(settings)
    acceptance = AcceptanceFeature(server, clock, wall_clock)
    features: list[LanguageFeature] = [
        acceptance,
        CompletionFeature(server, acceptance),
        StatusFeature(server, acceptance),
        ProjectContextFeature(server),
    ]
    for feature in [SessionFeature(server, features), *features]:
        server.add_feature(feature)
    return server
