"""JSON-RPC as the spec says it, where pygls 2.1 falls short: every request gets exactly one answer.

pygls drops a message it cannot read without a word to the client: a request with params of the wrong type
(a negative line, a string for a position) or no params never gets a response, so the editor waits forever;
a parse error or a batch gets none either; requests before `initialize` fail with an internal error, and
requests after `shutdown` are silently dropped. `CodegenProtocol` answers each with the error code the
JSON-RPC and LSP specs name, and logs one line without the message's content (it may hold source code).
It also swaps in `DocumentWorkspace` (see documents.py) once `initialize` has set pygls' workspace up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCNotification, RPCRequest, RPCResponse

from .documents import DocumentWorkspace

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002

ALLOWED_BEFORE_INITIALIZE = {types.INITIALIZE, types.EXIT}


@dataclass(frozen=True)
class Unreadable:
    """A message pygls could not turn into a typed one: what to answer and to whom (id None: a notification)."""

    id: Any
    method: str | None
    code: int
    reason: str


def is_valid_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def unreadable(data: Any, known_method) -> Unreadable:
    """Classify a message that failed to structure (data is the raw JSON value)."""
    if not isinstance(data, dict):
        return Unreadable(None, None, INVALID_REQUEST, f"expected a JSON object, got {type(data).__name__}")
    method = data.get("method")
    if method is None and ("result" in data or "error" in data):
        return Unreadable(None, "a response", INVALID_REQUEST, "a response that cannot be read")  # never answered
    has_id = "id" in data
    if has_id and not is_valid_id(data["id"]):
        return Unreadable(None, None, INVALID_REQUEST, "the id must be a number or a string")
    msg_id = data["id"] if has_id else None
    if data.get("jsonrpc") != "2.0":
        return Unreadable(msg_id, method, INVALID_REQUEST, 'missing "jsonrpc": "2.0"')
    if method is None:
        return Unreadable(msg_id, None, INVALID_REQUEST, "no method")
    if not isinstance(method, str):
        return Unreadable(msg_id, None, INVALID_REQUEST, "the method must be a string")
    if not known_method(method):
        return Unreadable(msg_id, method, METHOD_NOT_FOUND, f"unknown method {method}")
    return Unreadable(msg_id, method, INVALID_PARAMS, f"invalid params for {method}")


class CodegenProtocol(LanguageServerProtocol):
    def __init__(self, server, converter) -> None:
        super().__init__(server, converter)
        self.initialized = False
        self.exit_code: int | None = None  # set by `exit`: 0 after shutdown, 1 without

    # -- reading -----------------------------------------------------------------------------------------
    def structure_message(self, data: dict[str, Any]):
        if isinstance(data, dict) and "id" in data and not is_valid_id(data["id"]):
            return unreadable(data, self._knows)  # pygls would answer to an id of any type
        if isinstance(data, dict) and "method" in data and "params" not in data:
            # JSON-RPC lets a request leave params out (vscode-languageclient does for codegen/stats); pygls
            # cannot structure our custom requests without the member.
            data = {**data, "params": None}
        try:
            return super().structure_message(data)
        except Exception:
            return unreadable(data, self._knows)

    def _knows(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features or method == types.CANCEL_REQUEST

    def handle_message(self, message) -> None:
        if isinstance(message, Unreadable):
            self.reject(message)
            return
        if not isinstance(message, (RPCRequest, RPCNotification, RPCResponse)) and not hasattr(message, "error"):
            # JSON that is no message at all: a batch (LSP has none), a number, an object without "jsonrpc".
            self.reject(unreadable(message, self._knows) if isinstance(message, dict) else unreadable(message, None))
            return
        method = getattr(message, "method", None)
        is_request = isinstance(message, RPCRequest)
        if method is not None and not self.initialized and method not in ALLOWED_BEFORE_INITIALIZE:
            if is_request:
                self.reject(Unreadable(message.id, method, SERVER_NOT_INITIALIZED, "initialize comes first"))
            else:
                log.warning("dropped %s: the server is not initialized yet", method)
            return
        if is_request and self._shutdown and method != types.EXIT:
            self.reject(Unreadable(message.id, method, INVALID_REQUEST, "the server is shutting down"))
            return
        super().handle_message(message)

    def reject(self, problem: Unreadable) -> None:
        """Log one line; answer with an error when the message was a request (or its id could not be read)."""
        log.warning("bad message%s: %s", f" ({problem.method})" if problem.method else "", problem.reason)
        if problem.id is not None or problem.method is None:
            self._send_error(problem.id, problem.code, problem.reason)

    def answer_unparsable(self, error: Exception) -> bool:
        """A message body that is not JSON (or not UTF-8): answer Parse error; True when that was the case."""
        if not isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            return False
        log.warning("bad message: the body is not valid JSON in UTF-8 (%s)", type(error).__name__)
        self._send_error(None, PARSE_ERROR, "the body is not valid JSON in UTF-8")
        return True

    def _send_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):
        # pygls files the future of every async/generator handler under msg_id, but only a request's answer
        # removes it: each notification (every didChange) left one behind for good. Forget it when done.
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(lambda done: self._forget(msg_id, done))

    def _forget(self, msg_id, future) -> None:
        if self._request_futures.get(msg_id) is future:
            self._request_futures.pop(msg_id, None)

    def in_flight(self) -> int:
        """Requests (and handlers) not finished yet; what stays here is memory the server holds."""
        return len(self._request_futures)

    # -- lifecycle ---------------------------------------------------------------------------------------
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        self._workspace = DocumentWorkspace.like(self._workspace)
        self.initialized = True
        return result

    def final_exit_code(self) -> int:
        """0 after shutdown (then exit), 1 when the stream ended or exit came without shutdown, as LSP says."""
        return self.exit_code if self.exit_code is not None else (0 if self._shutdown else 1)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        # pygls raises SystemExit(code) inside its own loop, which swallows it: keep the code for the caller.
        self.exit_code = 0 if self._shutdown else 1
        yield from super().lsp_exit(*args)
