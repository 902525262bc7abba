"""Our own methods, typed like the standard ones: attrs classes that the protocol structures (strictly, see
strict.py) before a handler runs, so a handler gets fields, never a dict to pick apart, and a message of the wrong
shape is refused whole (a request gets -32602, a notification is dropped with one log line).

- `codegen/stats` (request, no params): counters, status and acceptance for status bars and benchmarks;
- `codegen/status` (notification to the client): the engine's state, as `Completer.status()` gives it;
- `codegen/documentText` (request, `{uri}`): the server's copy of an open document (tests, debugging);
- `textDocument/didShowCompletion` (`{item}`) and `textDocument/didPartiallyAcceptCompletion`
  (`{item, acceptedLength}`): what the editor did with an inline item, the messages Copilot's language server
  takes. Of the item only its command's arguments (our item id) matter; other members are ignored.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import attrs

STATS_REQUEST = "codegen/stats"
STATUS_NOTIFICATION = "codegen/status"
DOCUMENT_TEXT_REQUEST = "codegen/documentText"
ACCEPT_COMMAND = "codegen-lsp.didAcceptCompletionItem"
DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"


@attrs.define
class ItemCommand:
    """The command of an inline item we answered: `arguments[0]` is the item's id."""

    arguments: Optional[list[Any]] = None


@attrs.define
class ReportedItem:
    """An inline item as the editor sends it back (its other members are not read)."""

    command: Optional[ItemCommand] = None


def item_id(item: ReportedItem) -> str | None:
    """The id in an item's command; None when the item is not one of ours."""
    return command_id(item.command.arguments if item.command is not None else None)


def command_id(arguments: Any) -> str | None:
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
        return arguments[0]
    return None


@attrs.define
class DidShowCompletionParams:
    item: ReportedItem


@attrs.define
class DidPartiallyAcceptCompletionParams:
    item: ReportedItem
    accepted_length: int  # UTF-16 code units of the item's insertText now in the document


@attrs.define
class DocumentTextParams:
    uri: str


def _notification(name: str, method: str, params: type) -> type:
    return attrs.make_class(
        name,
        {
            "params": attrs.field(type=params),
            "method": attrs.field(type=str, default=method),
            "jsonrpc": attrs.field(type=str, default="2.0"),
        },
    )


def _request(name: str, method: str, params: Any) -> type:
    return attrs.make_class(
        name,
        {
            "id": attrs.field(type=Union[int, str]),
            "params": attrs.field(type=params),
            "method": attrs.field(type=str, default=method),
            "jsonrpc": attrs.field(type=str, default="2.0"),
        },
    )


# method -> the message class the protocol structures it into (as lsprotocol's METHOD_TO_TYPES does)
MESSAGE_TYPES: dict[str, type] = {
    DID_SHOW: _notification("DidShowCompletionNotification", DID_SHOW, DidShowCompletionParams),
    DID_PARTIALLY_ACCEPT: _notification(
        "DidPartiallyAcceptCompletionNotification", DID_PARTIALLY_ACCEPT, DidPartiallyAcceptCompletionParams
    ),
    DOCUMENT_TEXT_REQUEST: _request("DocumentTextRequest", DOCUMENT_TEXT_REQUEST, DocumentTextParams),
    STATS_REQUEST: _request("StatsRequest", STATS_REQUEST, Optional[Any]),
}
