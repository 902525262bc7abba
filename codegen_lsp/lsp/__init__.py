"""The LSP layer: message framing (framing.py), JSON-RPC on pygls with strict typing (protocol.py, strict.py),
our own methods typed like the standard ones (messages.py), the document model (documents.py) and URI identity
(uris.py).

The server and its features (`codegen_lsp.server`, `codegen_lsp.features`) import what they need from this face.
The rest of the pipeline uses only `documents` (text, offsets, edits) and `uris` (one key per document) from here.
Which pygls internals protocol.py relies on, and why pygls is pinned to one minor version: docs/architecture.md
and tests/test_pygls_hooks.py.
"""

from .documents import UNITS_PER_CHAR, Document, DocumentWorkspace
from .messages import (
    ACCEPT_COMMAND,
    DID_PARTIALLY_ACCEPT,
    DID_SHOW,
    DOCUMENT_TEXT_REQUEST,
    STATS_REQUEST,
    STATUS_NOTIFICATION,
    DidPartiallyAcceptCompletionParams,
    DidShowCompletionParams,
    DocumentTextParams,
    command_id,
    item_id,
)
from .protocol import CodegenProtocol, OwnTransport
from .uris import uri_key

__all__ = [
    "ACCEPT_COMMAND",
    "DID_PARTIALLY_ACCEPT",
    "DID_SHOW",
    "DOCUMENT_TEXT_REQUEST",
    "STATS_REQUEST",
    "STATUS_NOTIFICATION",
    "CodegenProtocol",
    "DidPartiallyAcceptCompletionParams",
    "DidShowCompletionParams",
    "Document",
    "DocumentTextParams",
    "DocumentWorkspace",
    "OwnTransport",
    "UNITS_PER_CHAR",
    "command_id",
    "item_id",
    "uri_key",
]
