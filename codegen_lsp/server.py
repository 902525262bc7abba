"""The language server: lifecycle, documents, inline and classic completion, `codegen/stats`, and what the user
did with the completions (acceptance.py).

Handlers stay thin: they turn LSP into calls on the `Completer` and its answers back into LSP.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .acceptance import ACCEPT_COMMAND, DID_PARTIALLY_ACCEPT, DID_SHOW, AcceptanceTracker, default_counter_path, plain
from .completion import Completer
from .context import leading_whitespace, uri_path
from .lsp.documents import UNITS_PER_CHAR, Document, document_text
from .lifecycle import exit_now, watch_parent
from .postprocess import Completion
from .lsp.protocol import CodegenProtocol, OwnTransport
from .settings import Settings, parse_settings
from .snippets import neighbours_from
from .workspace_index.lsp_hooks import edit_of, start_indexing, watched_changes
from .workspace_index.service import ProjectContext

log = logging.getLogger(__name__)

STATS_REQUEST = "codegen/stats"
STATUS_NOTIFICATION = "codegen/status"
DOCUMENT_TEXT_REQUEST = "codegen/documentText"  # the server's copy of an open document (tests, debugging)


class CodegenLanguageServer(OwnTransport, LanguageServer):
    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__("codegen-lsp", __version__, protocol_cls=CodegenProtocol)
        self.flag_settings = settings
        self.project_context = ProjectContext()
        self.completer = Completer(settings, on_error=self.show_error_once, project=self.project_context)
        self.acceptance = AcceptanceTracker(clock, wall_clock)
        self._retention_timer: asyncio.TimerHandle | None = None
        self._shown_errors: set[str] = set()
        self._pending_messages: list[str] = []
        self._load_task: asyncio.Task | None = None
        self._load_again = False
        self.client_name = ""  # clientInfo.name from initialize: some clients cannot take replacing items

    def report_server_error(self, error, source) -> None:
        """A handler failed (a bug of ours; protocol.py logged it): one message per kind of failure, never one
        per message (pygls showed a popup for each)."""
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
        self.acceptance.persist(default_counter_path() if settings.persist_stats else None)
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
        progress = await self._start_progress(token, f"loading {self.completer.settings.model}")
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

    async def _start_progress(self, token: str, title: str) -> bool:
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

    # -- completions ---------------------------------------------------------------------------------------
    async def complete_at(self, uri: str, position: types.Position, invoked: bool = False) -> list[Completion]:
        """Completions at an LSP position; [] for unopened documents and positions past the end.
        `invoked`: the user asked explicitly (alternatives are offered)."""
        document = self.workspace.open_document(uri)
        if document is None:
            log.info("completion asked for a document that is not open: %s", uri)
            return []
        lines = document.lines
        past_end = position.line > len(lines) or (
            position.line == len(lines) and lines and not lines[-1].endswith(("\n", "\r"))
        )
        if past_end:
            return []
        offset = document.offset_at_position(position)
        neighbours = neighbours_from(self.workspace.text_documents.values(), uri)
        state = self.completer.state
        completions = await self.completer.complete(uri, document.source, offset, document.language_id, invoked, neighbours)
        if self.completer.state != state:  # a remote engine was loaded again on the way (its server is back)
            self.send_status()
        return completions

    # -- what the user did with them ------------------------------------------------------------------------------
    def inline_items(
        self, uri: str, position: types.Position, completions: list[Completion]
    ) -> list[types.InlineCompletionItem]:
        """Inline items, each with the command that tells us it was accepted. A completion that replaces the
        closers after the cursor gets a range over them, or its insertion form where the client cannot show it."""
        document = self.workspace.open_document(uri)
        shown = [
            c if not c.replace or takes_inline_replace(self.client_name, c) else c.insertion_only() for c in completions
        ]
        shown = [c for c in shown if c.text]
        if document is None or not shown:
            return []
        offset = document.offset_at_position(position)
        key = self.completer.describe(uri, document.source, offset, document.language_id)
        ids = self.acceptance.offer(uri, document.source, offset, position, [c.text for c in shown], key)
        return [
            types.InlineCompletionItem(
                insert_text=c.text,
                range=item_range(document, position, c),
                command=types.Command(title="codegen-lsp: accepted", command=ACCEPT_COMMAND, arguments=[item_id]),
            )
            for c, item_id in zip(shown, ids)
        ]

    def close(self) -> None:
        """At shutdown, or when the editor went away without one: keep the counters, stop the model."""
        self.acceptance.save()
        self.project_context.close()
        self.completer.close()

    def start_project_index(self) -> None:
        """Index the workspace in the background (setting projectContext), with $/progress."""
        if self.completer.settings.project_context:
            start_indexing(self, self.project_context, self._start_progress)

    def text_of(self, uri: str) -> str | None:
        document = self.workspace.open_document(uri)
        return document.source if document is not None else None

    def check_retention(self) -> None:
        """Measure the retention checks that are due, and wake up again for the next one."""
        self.acceptance.check_due(self.text_of)
        if self._retention_timer is not None:
            self._retention_timer.cancel()
            self._retention_timer = None
        due = self.acceptance.next_due()
        if due is not None:
            delay = max(0.0, due - self.acceptance.clock()) + 0.05
            self._retention_timer = asyncio.get_running_loop().call_later(delay, self.check_retention)


def create_server(
    settings: Settings, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
) -> CodegenLanguageServer:
    """The server; `clock` and `wall_clock` time the acceptance retention checks (tests pass their own)."""
    server = CodegenLanguageServer(settings, clock, wall_clock)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CodegenLanguageServer, params: types.InitializeParams) -> None:
        ls.acceptance.encoding = ls.workspace.position_encoding or types.PositionEncodingKind.Utf16
        ls._pending_messages = ls.apply_settings(params.initialization_options, ls.flag_settings)
        ls.client_name = params.client_info.name if params.client_info else ""
        watch_parent(params.process_id, lambda: exit_now(ls.close))

    @server.feature(types.INITIALIZED)
    def initialized(ls: CodegenLanguageServer, params: types.InitializedParams) -> None:
        ls.show_warnings(ls._pending_messages)
        ls._pending_messages = []
        ls.request_load()
        ls.start_project_index()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: CodegenLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        ls.show_warnings(ls.apply_settings(params.settings, ls.completer.settings))
        ls.send_status()
        ls.start_project_index()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodegenLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.completer.typed_through.forget(params.text_document.uri)
        ls.acceptance.closed(params.text_document.uri)
        ls.project_context.closed(uri_path(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodegenLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.project_context.opened(uri_path(params.text_document.uri), params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CodegenLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.project_context.saved(uri_path(params.text_document.uri), ls.text_of(params.text_document.uri))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: CodegenLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.project_context.files_changed(watched_changes(params))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodegenLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.acceptance.changed(params.text_document.uri, params.content_changes)
        ls.project_context.changed(*edit_of(ls, params))

    @server.command(ACCEPT_COMMAND)
    def accepted(ls: CodegenLanguageServer, *arguments) -> None:
        ls.acceptance.accepted(plain(list(arguments)))
        ls.check_retention()

    @server.feature(DID_SHOW)
    def did_show(ls: CodegenLanguageServer, params) -> None:
        ls.acceptance.shown(plain(params))

    @server.feature(DID_PARTIALLY_ACCEPT)
    def did_partially_accept(ls: CodegenLanguageServer, params) -> None:
        ls.acceptance.partially_accepted(plain(params))
        ls.check_retention()

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodegenLanguageServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        completions = await ls.complete_at(params.text_document.uri, params.position, invoked)
        return types.InlineCompletionList(items=ls.inline_items(params.text_document.uri, params.position, completions))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: CodegenLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        completions = await ls.complete_at(params.text_document.uri, params.position)
        document = ls.workspace.open_document(params.text_document.uri)
        indent = snippet_indent(ls, params)
        items = []
        for completion in completions:
            if completion.replace and ls.client_name in INSERT_ONLY_CLASSIC_CLIENTS:
                completion = completion.insertion_only()
            if completion.text:
                here = item_range(document, params.position, completion)
                items.append(completion_item(completion.text, here, indent))
        return types.CompletionList(is_incomplete=True, items=items)

    @server.feature(STATS_REQUEST)
    def stats(ls: CodegenLanguageServer, params) -> dict:
        running = {"max_running": ls.completer.scheduler.max_running, "in_flight": ls.protocol.in_flight()}
        ls.check_retention()
        acceptance = {"acceptance": ls.acceptance.snapshot()}
        context = {"project_context": ls.project_context.stats()}
        return {**ls.completer.stats.snapshot(), **ls.completer.status(), **running, **acceptance, **context}

    @server.feature(DOCUMENT_TEXT_REQUEST)
    def text_of_document(ls: CodegenLanguageServer, params) -> dict:
        return document_text(ls.workspace, params)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CodegenLanguageServer, params) -> None:
        ls.close()

    @server.feature(types.EXIT)
    def exit_(ls: CodegenLanguageServer, params) -> None:
        ls.completer.close()  # exit without shutdown, mid-generation: stop the model thread first

    return server


# How clients apply an item whose range runs past the cursor over the closers there (seen in tests/editors):
# VS Code (code-server) shows the whole replacement as ghost text around the closers and Tab applies the range.
# Neovim 0.12 draws a replacing inline item's first line over the range ('overlay'): right for one line, but
# a body of lines (`{¦}`) would leave the closer drawn on the cursor's line: those get the insertion instead.
# Neovim's classic completion (0.11) is not proven with replacing edits: insertion only.
OVERLAY_CLIENTS = {"Neovim"}
INSERT_ONLY_CLASSIC_CLIENTS = {"Neovim"}


def takes_inline_replace(client_name: str, completion: Completion) -> bool:
    return not (client_name in OVERLAY_CLIENTS and "\n" in completion.text)


def item_range(document: Document | None, position: types.Position, completion: Completion) -> types.Range:
    """From the cursor over the characters the completion replaces (closers on the cursor's line), counted in
    the position encoding the client and server agreed on."""
    if not completion.replace or document is None:
        return types.Range(start=position, end=position)
    offset = document.offset_at_position(position)
    replaced = document.source[offset : offset + completion.replace]
    width = UNITS_PER_CHAR.get(document.encoding, UNITS_PER_CHAR[types.PositionEncodingKind.Utf16])
    end = types.Position(line=position.line, character=position.character + sum(width(c) for c in replaced))
    return types.Range(start=position, end=end)


def completion_item(text: str, here: types.Range, indent: str | None = None) -> types.CompletionItem:
    """A classic item. Given the cursor line's `indent` (clients with snippet support), the text goes as a snippet
    whose later lines are relative to that indent: Neovim inserts only the first word of a plain-text item, and
    Neovim and VS Code both re-indent a snippet's later lines by the cursor line's indentation."""
    first_line = next((line.strip() for line in text.split("\n") if line.strip()), text.strip())
    if indent is None:
        new_text, text_format, mode = text, types.InsertTextFormat.PlainText, types.InsertTextMode.AsIs
    else:
        lines = text.split("\n")
        relative = [lines[0], *(line[len(indent):] if line.startswith(indent) else line for line in lines[1:])]
        new_text = escape_snippet("\n".join(relative))
        text_format, mode = types.InsertTextFormat.Snippet, types.InsertTextMode.AdjustIndentation
    return types.CompletionItem(
        label=first_line[:80],
        kind=types.CompletionItemKind.Snippet,
        detail="codegen-lsp",
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{text}\n```"),
        text_edit=types.TextEdit(range=here, new_text=new_text),
        insert_text_format=text_format,
        insert_text_mode=mode,
        sort_text="0",
    )


def escape_snippet(text: str) -> str:
    """Plain text as LSP snippet text: `$`, `}` and `\\` lose their meaning."""
    return re.sub(r"([\\$}])", r"\\\1", text)


def snippet_indent(ls: LanguageServer, params: types.CompletionParams) -> str | None:
    """The cursor line's indentation when the client takes snippets, else None (plain text, as is)."""
    completion = ls.client_capabilities.text_document and ls.client_capabilities.text_document.completion
    item = completion and completion.completion_item
    document = ls.workspace.open_document(params.text_document.uri)
    if not (item and item.snippet_support and document):
        return None
    lines = document.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    return leading_whitespace(line)
