"""Every pygls internal the LSP layer (codegen_lsp/lsp/) overrides or reads, by name and signature.

pygls is pinned to one minor version (pyproject.toml) because these names are not its public API: a release
that renames or reshapes one of them fails here, naming the hook, instead of breaking the protocol in an editor.
docs/architecture.md says why we pin rather than own the JSON-RPC loop.
"""

from __future__ import annotations

import inspect

import pytest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument, Workspace

# (class, method, the parameters our override or call relies on, in order, without self)
METHODS = [
    (LanguageServerProtocol, "_send_data", ["data"]),  # protocol.py: our writer
    (LanguageServerProtocol, "_execute_handler", ["msg_id", "handler", "callback", "args", "kwargs"]),
    (LanguageServerProtocol, "_handle_response", ["msg_id", "result", "error"]),
    (LanguageServerProtocol, "_send_handler_result", ["future", "msg_id"]),
    (LanguageServerProtocol, "_check_handler_result", ["future"]),
    (LanguageServerProtocol, "_send_response", ["msg_id", "result", "error"]),
    (LanguageServerProtocol, "_serialize_message", ["data"]),
    (LanguageServerProtocol, "send_request", ["method", "params", "callback", "msg_id"]),
    (LanguageServerProtocol, "handle_message", ["message"]),
    (LanguageServerProtocol, "get_message_type", ["method"]),
    (LanguageServerProtocol, "lsp_initialize", ["params"]),
    (LanguageServerProtocol, "lsp_exit", ["args"]),
    (LanguageServerProtocol, "set_writer", ["writer", "include_headers"]),
    (LanguageServer, "_report_server_error", ["error", "source"]),  # protocol.py reports a failed handler
    (LanguageServer, "_start_io_async", ["stdin", "stdout"]),  # OwnTransport: our reader for stdio
    (LanguageServer, "start_tcp", ["host", "port"]),  # OwnTransport: our reader for TCP
    (Workspace, "_create_text_document", ["doc_uri", "source", "version", "language_id"]),  # documents.py
    (Workspace, "put_text_document", ["text_document", "notebook_uri"]),
    (Workspace, "remove_text_document", ["doc_uri"]),
    (Workspace, "update_text_document", ["text_doc", "change"]),
    (Workspace, "get_notebook_document", ["notebook_uri", "cell_uri"]),
    (Workspace, "put_notebook_document", ["params"]),
    (TextDocument, "_apply_incremental_change", ["change"]),
]

# attributes of instances we read or set
PROTOCOL_ATTRIBUTES = ["_request_futures", "_result_types", "_converter", "_shutdown", "_workspace", "_server",
                       "fm", "writer", "CONTENT_TYPE", "CHARSET"]
WORKSPACE_ATTRIBUTES = ["_sync_kind", "_text_documents", "_notebook_documents", "position_codec", "folders",
                        "position_encoding", "root_uri"]


@pytest.mark.parametrize("cls, name, parameters", METHODS, ids=[f"{c.__name__}.{n}" for c, n, _ in METHODS])
def test_each_overridden_pygls_method_keeps_its_signature(cls, name, parameters):
    method = getattr(cls, name, None)
    assert method is not None, f"pygls {cls.__name__}.{name} is gone: codegen_lsp/lsp/ relies on it"
    found = [p for p in inspect.signature(method).parameters if p != "self"]
    assert found == parameters, f"pygls {cls.__name__}.{name} takes {found} now"


def test_the_private_state_we_read_is_there():
    server = LanguageServer("hooks", "0")
    protocol = server.protocol
    missing = [name for name in PROTOCOL_ATTRIBUTES if not hasattr(protocol, name)]
    missing += [f"fm.{name}" for name in ("builtin_features", "features", "commands") if not hasattr(protocol.fm, name)]
    missing += [f"workspace.{name}" for name in WORKSPACE_ATTRIBUTES if not hasattr(Workspace(None), name)]
    missing += [f"document.{name}" for name in ("_source", "position_codec") if not hasattr(TextDocument("file:///a", "x"), name)]
    assert not missing, f"pygls no longer has {missing}"
    assert isinstance(protocol._request_futures, dict) and isinstance(protocol._result_types, dict)
