"""Inline and classic completion: LSP positions in, items with replace ranges out (the pipeline is the
`Completer`, free of LSP)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from lsprotocol import types

from ..context import leading_whitespace
from ..lsp import ACCEPT_COMMAND, UNITS_PER_CHAR, Document
from ..postprocess import Completion
from ..snippets import neighbours_from
from .base import Handler, LanguageFeature

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer
    from .acceptance import AcceptanceFeature

log = logging.getLogger(__name__)

# How clients apply an item whose range runs past the cursor over the closers there (seen in tests/editors):
# VS Code (code-server) shows the whole replacement as ghost text around the closers and Tab applies the range.
# Neovim 0.12 draws a replacing inline item's first line over the range ('overlay') and its other lines below,
# and Tab sets the range's text: right when the first line covers the closers (`r) -> float:` over `)`), but a
# body of lines whose first line is shorter (`{¦}`: "" over `}`) would leave the closer drawn on the cursor's
# line: those get the insertion instead. Neovim's classic completion (0.11) is not proven with replacing edits:
# insertion only.
OVERLAY_CLIENTS = {"Neovim"}
INSERT_ONLY_CLASSIC_CLIENTS = {"Neovim"}


class CompletionFeature(LanguageFeature):
    """Answers inlineCompletion and completion; each inline item carries the command `acceptance` counts."""

    def __init__(self, server: CodegenLanguageServer, acceptance: AcceptanceFeature) -> None:
        super().__init__(server)
        self.acceptance = acceptance
        self.client_name = ""  # clientInfo.name from initialize: some clients cannot take replacing items

    def handlers(self) -> list[Handler]:
        return [
            Handler(types.TEXT_DOCUMENT_INLINE_COMPLETION, self.inline_completion, types.InlineCompletionOptions()),
            Handler(types.TEXT_DOCUMENT_COMPLETION, self.completion, types.CompletionOptions(resolve_provider=False)),
        ]

    def initialize(self, params: types.InitializeParams) -> None:
        self.client_name = params.client_info.name if params.client_info else ""

    def document_closed(self, uri: str) -> None:
        self.server.completer.typed_through.forget(uri)

    # -- handlers --------------------------------------------------------------------------------------------
    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        completions = await self.complete_at(params.text_document.uri, params.position, invoked)
        return types.InlineCompletionList(items=self.inline_items(params.text_document.uri, params.position, completions))

    async def completion(self, params: types.CompletionParams) -> types.CompletionList:
        completions = await self.complete_at(params.text_document.uri, params.position)
        document = self.server.workspace.open_document(params.text_document.uri)
        indent = snippet_indent(self.server, params)
        items = []
        for completion in completions:
            if completion.replace and self.client_name in INSERT_ONLY_CLASSIC_CLIENTS:
                completion = completion.insertion_only()
            if completion.text:
                here = item_range(document, params.position, completion)
                items.append(completion_item(completion.text, here, indent))
        return types.CompletionList(is_incomplete=True, items=items)

    # -- completions -------------------------------------------------------------------------------------------
    async def complete_at(self, uri: str, position: types.Position, invoked: bool = False) -> list[Completion]:
        """Completions at an LSP position; [] for unopened documents and positions past the end.
        `invoked`: the user asked explicitly (alternatives are offered)."""
        server, completer = self.server, self.server.completer
        document = server.workspace.open_document(uri)
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
        neighbours = neighbours_from(server.workspace.text_documents.values(), uri)
        state = completer.state
        completions = await completer.complete(uri, document.source, offset, document.language_id, invoked, neighbours)
        if completer.state != state:  # a remote engine was loaded again on the way (its server is back)
            server.send_status()
        return completions

    def inline_items(
        self, uri: str, position: types.Position, completions: list[Completion]
    ) -> list[types.InlineCompletionItem]:
        """Inline items, each with the command that tells us it was accepted. A completion that replaces the
        closers after the cursor gets a range over them, or its insertion form where the client cannot show it."""
        document = self.server.workspace.open_document(uri)
        shown = [
            c if not c.replace or takes_inline_replace(self.client_name, c) else c.insertion_only() for c in completions
        ]
        shown = [c for c in shown if c.text]
        if document is None or not shown:
            return []
        offset = document.offset_at_position(position)
        key = self.server.completer.describe(uri, document.source, offset, document.language_id)
        ids = self.acceptance.tracker.offer(uri, document.source, offset, position, [c.text for c in shown], key)
        return [
            types.InlineCompletionItem(
                insert_text=c.text,
                range=item_range(document, position, c),
                command=types.Command(title="codegen-lsp: accepted", command=ACCEPT_COMMAND, arguments=[item_id]),
            )
            for c, item_id in zip(shown, ids)
        ]


def takes_inline_replace(client_name: str, completion: Completion) -> bool:
    first_line = completion.text.split("\n", 1)[0]
    return client_name not in OVERLAY_CLIENTS or "\n" not in completion.text or len(first_line) >= completion.replace


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


def snippet_indent(server: CodegenLanguageServer, params: types.CompletionParams) -> str | None:
    """The cursor line's indentation when the client takes snippets, else None (plain text, as is)."""
    completion = server.client_capabilities.text_document and server.client_capabilities.text_document.completion
    item = completion and completion.completion_item
    document = server.workspace.open_document(params.text_document.uri)
    if not (item and item.snippet_support and document):
        return None
    lines = document.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    return leading_whitespace(line)
