"""JSON-RPC as the spec says it, where pygls 2.1 falls short: every request gets exactly one answer.

This module owns the way in: bytes (framing.py) -> JSON -> typed params -> handlers, and the way out.

pygls drops a message it cannot read without a word to the client: a request with params of the wrong type
(a negative line, a string for a position) or no params never gets a response, so the editor waits forever;
a parse error or a batch gets none either; requests before `initialize` fail with an internal error, and
requests after `shutdown` are silently dropped. `CodegenProtocol` answers each with the error code the
JSON-RPC and LSP specs name, and logs one line without the message's content (it may hold source code).
It also swaps in `DocumentWorkspace` (see documents.py) once `initialize` has set pygls' workspace up.

What an adversarial client found in how pygls reads messages:
- pygls parsed bodies with `json.loads(object_hook=structure_message)`, which ran our message check on every
  nested object: settings holding `"id": null` were refused as a bad message. We parse the body first, then
  structure the top level only; `NaN`/`Infinity` (not JSON) are a parse error.
- cattrs coerces: `{"text": null}` became the text "None", `"1"` a line number, `42` a URI. `strict_types`
  (strict.py) makes every field take only its JSON type, so a message with a wrong type is refused whole before any
  handler runs: a request gets -32602, a notification is dropped with one log line (the document unchanged).
- pygls filed client requests and its own requests in one table, so a client "response" carrying the id of a
  request of the client's that was still running completed that handler's task (RuntimeError, a popup). A
  response counts only when it answers a request we sent.
- Logs: no message content, no traceback at the default level for a wrong-typed value (pygls logged the whole
  failed structuring at ERROR, values included), nothing written after `exit` closed the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureNotificationError, FeatureRequestError, JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    RPCNotification,
    RPCRequest,
    RPCResponse,
)

from .documents import DocumentWorkspace
from .framing import serve_bodies, stdin_chunks
from .messages import MESSAGE_TYPES
from .strict import strict_types, what_was_wrong
from .tcp import OneClient

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800

ALLOWED_BEFORE_INITIALIZE = {types.INITIALIZE, types.EXIT}


@dataclass(frozen=True)
class Unreadable:
    """A message pygls could not turn into a typed one: what to answer and to whom (id None: a notification)."""

    id: Any
    method: str | None
    code: int
    reason: str


@dataclass(frozen=True)
class StrayResponse:
    """A response whose id names no request of ours: logged and ignored."""

    id: Any


def is_valid_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def shown_id(value: Any) -> str:
    """An id for a log line (ids are the client's; keep the line short)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        super().__init__(server, strict_types(converter))
        self.initialized = False
        self.exit_code: int | None = None  # set by `exit`: 0 after shutdown, 1 without
        self._sent: set = set()  # ids of our requests to the client that await a response
        self._closed = False  # the stream to the client is closed (after `exit`, or the client went away)

    # -- reading -----------------------------------------------------------------------------------------
    def handle_body(self, body: bytes) -> None:
        """One message body from the framing: parse, structure the top level, handle."""
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=not_json)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            self.answer_unparsable(error)
            return
        self.handle_message(self.structure_message(data))

    def structure_message(self, data: Any):
        if not isinstance(data, dict):
            return unreadable(data, None)
        if "method" not in data and ("result" in data or "error" in data):
            return self._structure_response(data)
        if "id" in data and not is_valid_id(data["id"]):
            return unreadable(data, self._knows)  # pygls would answer to an id of any type
        if "method" in data and "params" not in data:
            # JSON-RPC lets a request leave params out (vscode-languageclient does for codegen/stats); pygls
            # cannot structure our custom requests without the member.
            data = {**data, "params": None}
        problem = unreadable(data, self._knows)
        if problem.code != INVALID_PARAMS:
            return problem
        method = data["method"]
        fallback = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
        try:
            return self._converter.structure(data, self.get_message_type(method) or fallback)
        except Exception as error:
            return Unreadable(problem.id, method, INVALID_PARAMS, f"invalid params for {method}: {what_was_wrong(error)}")

    def _structure_response(self, data: dict):
        msg_id = data.get("id")
        if not is_valid_id(msg_id) or msg_id not in self._sent:
            return StrayResponse(msg_id)
        if "error" in data:
            try:
                return self._converter.structure(data, types.ResponseErrorMessage)
            except Exception:
                error = types.ResponseError(code=-32603, message="the client sent an error that cannot be read")
                return types.ResponseErrorMessage(id=msg_id, error=error)
        result_type = self._result_types.pop(msg_id, None) or JsonRPCResponseMessage
        try:
            return self._converter.structure(data, result_type)
        except Exception:
            return JsonRPCResponseMessage(id=msg_id, jsonrpc="2.0", result=data.get("result"))

    def get_message_type(self, method: str):
        """Our own methods (codegen/*, the acceptance notifications) are typed like the standard ones."""
        return MESSAGE_TYPES.get(method) or super().get_message_type(method)

    def _knows(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features or method == types.CANCEL_REQUEST

    def handle_message(self, message) -> None:
        if isinstance(message, Unreadable):
            self.reject(message)
            return
        if isinstance(message, StrayResponse):
            log.warning("ignored a response to no request of ours (id %s)", shown_id(message.id))
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
        if method == types.INITIALIZE and self.initialized:  # LSP: sent once; pygls began a new session, docs lost
            if is_request:
                self.reject(Unreadable(message.id, method, INVALID_REQUEST, "initialize may be sent only once"))
            return
        if is_request and self._shutdown and method != types.EXIT:
            self.reject(Unreadable(message.id, method, INVALID_REQUEST, "the server is shutting down"))
            return
        super().handle_message(message)

    def reject(self, problem: Unreadable) -> None:
        """Log one line; answer with an error when the message was a request (or its id could not be read)."""
        is_notification = problem.id is None and problem.method is not None
        if is_notification and problem.code == METHOD_NOT_FOUND and problem.method.startswith("$/"):
            log.debug("ignored %s (a protocol-dependent notification we do not implement)", problem.method)
            return
        what = "dropped a notification" if is_notification else "bad message"
        log.warning("%s%s: %s", what, f" ({problem.method})" if problem.method else "", problem.reason)
        if not is_notification:
            self._send_error(problem.id, problem.code, problem.reason)

    def answer_unparsable(self, error: Exception) -> bool:
        """A message body that is not JSON (or not UTF-8): answer Parse error; True when that was the case."""
        if not isinstance(error, (ValueError, RecursionError)):  # JSONDecodeError, UnicodeDecodeError: ValueErrors
            return False
        log.warning("bad message: the body is not valid JSON in UTF-8 (%s)", type(error).__name__)
        self._send_error(None, PARSE_ERROR, "the body is not valid JSON in UTF-8")
        return True

    def _send_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    # -- our requests to the client --------------------------------------------------------------------------
    def send_request(self, method, params=None, callback=None, msg_id=None):
        future = super().send_request(method, params, callback, msg_id)
        sent = next((key for key, value in self._request_futures.items() if value is future), None)
        if sent is not None:
            self._sent.add(sent)
            future.add_done_callback(lambda _: self._sent.discard(sent))
        return future

    def _handle_response(self, msg_id, result=None, error=None):
        self._sent.discard(msg_id)
        super()._handle_response(msg_id, result, error)

    # -- writing -------------------------------------------------------------------------------------------
    def _send_data(self, data: Any) -> None:
        """pygls' writer, minus its failure modes: nothing is written once the stream is closed (after
        `exit`, a generation that ends later would otherwise log `I/O operation on closed file` tracebacks)."""
        if not data or self._closed or self.writer is None:
            return
        try:
            body = json.dumps(data, default=self._serialize_message, allow_nan=False)
        except (TypeError, ValueError) as error:
            log.error("could not write a message to the client as JSON (%s)", type(error).__name__)
            msg_id = data.get("id") if isinstance(data, dict) else getattr(data, "id", None)
            is_answer = "method" not in data if isinstance(data, dict) else not hasattr(data, "method")
            if msg_id is not None and is_answer:  # still answer the request, once
                self._send_error(msg_id, INTERNAL_ERROR, "the answer could not be written as JSON")
            return
        header = f"Content-Length: {len(body)}\r\nContent-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n"
        try:
            self.writer.write((header + body).encode(self.CHARSET))
        except (OSError, ValueError):  # BrokenPipeError; ValueError: the stream was closed
            self._closed = True
            log.info("the client's stream is closed: nothing more is sent")

    # -- handler outcomes: pygls logged these with tracebacks holding message values ------------------------
    def _send_handler_result(self, future, *, msg_id):
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            self._send_error(msg_id, REQUEST_CANCELLED, "the request was cancelled")
            return
        error = future.exception()
        if error is None:
            self._send_response(msg_id, result=future.result())
            return
        if isinstance(error, JsonRpcException):
            self._send_response(msg_id, error=error.to_response_error())
            return
        self._handler_failed("a request", error)
        self._send_error(msg_id, INTERNAL_ERROR, f"internal error ({type(error).__name__})")
        self._server._report_server_error(error, FeatureRequestError)

    def _check_handler_result(self, future) -> None:
        if future.cancelled() or future.exception() is None:
            return
        error = future.exception()
        self._handler_failed("a notification", error)
        self._server._report_server_error(error, FeatureNotificationError)

    @staticmethod
    def _handler_failed(what: str, error: BaseException) -> None:
        log.error("handling %s failed: %s", what, type(error).__name__)
        log.debug("the failure", exc_info=error)  # the traceback only when asked for: it may quote the message

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
        try:
            yield from super().lsp_exit(*args)
        finally:
            self._closed = True


class OwnTransport:
    """Serve stdio and TCP through `framing.serve_bodies` and `CodegenProtocol.handle_body` instead of pygls'
    reader (a mixin for the LanguageServer; see framing.py for what pygls' reader got wrong)."""

    def _start_io_async(self, stdin=None, stdout=None) -> None:
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def main() -> None:
            await serve_bodies(stdin_chunks(stdin or sys.stdin.buffer), self.protocol.handle_body, self._stop_event)

        try:
            asyncio.run(main())
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        """One client at a time (see tcp.py): the first connection that speaks owns the session."""
        self._stop_event = stop = threading.Event()

        async def session(next_chunk, writer) -> None:
            self.protocol.set_writer(writer)
            try:
                await serve_bodies(next_chunk, self.protocol.handle_body, stop)
            except SystemExit:  # `exit` (the protocol keeps its code); asyncio would log it as unhandled
                pass

        async def main() -> None:
            clients = OneClient(session, self.shutdown)
            self._server = await asyncio.start_server(clients.connection, host, port)
            log.info("serving on %s", ", ".join(str(s.getsockname()) for s in self._server.sockets))
            async with self._server:
                await self._server.serve_forever()

        try:
            asyncio.run(main())
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            pass
