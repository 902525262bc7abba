"""Bad input over the real stdio stream: each gets the error the JSON-RPC / LSP spec names (or an empty result)
in bounded time, and a real completion still works afterwards. Bytes go out raw, so garbage can be sent."""

from __future__ import annotations

import json

import pytest

from codegen_lsp.lsp.protocol import unreadable
from raw_lsp import RawServer, frame, inline_params

URI = "file:///work/bad.py"
ANSWER_WITHIN = 30  # seconds: a hang guard, not a performance target


@pytest.fixture(scope="module")
def server(wordy_model_dir):
    raw = RawServer()
    raw.initialize({"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4})
    assert raw.wait_until_loaded()["state"] == "ready"
    raw.open(URI, "import os\nvalue = ")
    yield raw
    assert raw.close() == 0


def still_serves(raw: RawServer) -> None:
    answer = raw.inline(URI, 1, 8, timeout=ANSWER_WITHIN)
    assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"]


def error_for(raw: RawServer, body: bytes, msg_id) -> dict:
    raw.send_bytes(frame(body))
    return raw.response(msg_id, timeout=ANSWER_WITHIN)["error"]


def request_body(msg_id, method, params) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()


@pytest.mark.parametrize(
    "body, code",
    [
        (b'{"jsonrpc": "2.0", "id": 7, "method": ', -32700),  # cut off
        (b"not json at all", -32700),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "codegen/stats", "params": "\xff\xfe"}', -32700),  # bad UTF-8
        (b'{"jsonrpc": "2.0", "id": 7, "method": "codegen/stats", "params": "a\x00b"}', -32700),  # raw NUL
        (b"[1, 2, 3]", -32600),  # a batch: LSP has none
        (b"42", -32600),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "codegen/stats"}', -32600),  # id of the wrong type
        (b'{"jsonrpc": "2.0", "id": true, "method": "codegen/stats"}', -32600),
        (b'{"jsonrpc": "2.0", "id": [3], "method": "codegen/stats", "params": null}', -32600),  # readable params
    ],
    ids=["truncated", "not-json", "invalid-utf8", "nul-byte", "batch", "number", "object-id", "bool-id", "list-id"],
)
def test_unreadable_message_answers_with_null_id(server, body, code):
    assert error_for(server, body, None)["code"] == code
    still_serves(server)


@pytest.mark.parametrize(
    "method, params, code",
    [
        ("textDocument/inlineCompletion", {**inline_params(URI, 0, 0), "position": {"line": -1, "character": 0}}, -32602),
        ("textDocument/inlineCompletion", {**inline_params(URI, 0, 0), "position": {"line": 0, "character": -5}}, -32602),
        ("textDocument/inlineCompletion", {**inline_params(URI, 0, 0), "position": {"line": 2**40, "character": 0}}, -32602),
        ("textDocument/completion", {"textDocument": "x", "position": 5}, -32602),
        ("textDocument/completion", {"textDocument": {"uri": URI}, "position": {"line": "one", "character": 0}}, -32602),
        ("textDocument/completion", None, -32602),
        ("textDocument/inlineCompletion", [1, 2], -32602),
        ("no/suchMethod", {}, -32601),
        ("$/no/suchRequest", None, -32601),
    ],
    ids=["negative-line", "negative-char", "huge-line", "wrong-shape", "string-line", "no-params", "list-params",
         "unknown", "dollar-unknown"],
)
def test_bad_request_gets_the_error_code_the_spec_names(server, method, params, code):
    msg_id = server.new_id()
    assert error_for(server, request_body(msg_id, method, params), msg_id)["code"] == code
    still_serves(server)


def test_message_without_jsonrpc_version_is_an_invalid_request(server):
    msg_id = server.new_id()
    body = json.dumps({"id": msg_id, "method": "codegen/stats"}).encode()
    assert error_for(server, body, msg_id)["code"] == -32600


def test_a_request_may_leave_params_out(server):
    """JSON-RPC lets params be omitted; vscode-languageclient does so for codegen/stats."""
    for method, params_member in (("codegen/stats", {}), ("codegen/stats", {"params": None})):
        msg_id = server.new_id()
        server.send({"jsonrpc": "2.0", "id": msg_id, "method": method, **params_member})
        assert "requests" in server.response(msg_id)["result"]
    msg_id = server.new_id()  # a method whose params are required still says they are missing
    server.send({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/completion"})
    assert server.response(msg_id)["error"]["code"] == -32602


def test_bad_notifications_are_dropped_without_harm(server):
    server.notify("no/suchNotification", {"x": 1})
    server.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": "two"}, "contentChanges": 5})
    server.notify("textDocument/didChange", {"textDocument": {"uri": "file:///never/opened.py", "version": 2},
                                             "contentChanges": [{"text": "x = 1"}]})
    server.notify("textDocument/didOpen", None)
    still_serves(server)
    assert server.call("codegen/documentText", {"uri": URI})["result"]["text"] == "import os\nvalue = "


def test_garbage_between_messages_is_skipped(server):
    server.send_bytes(b"\x00\x01garbage line\r\nContent-Type: nonsense\r\n\r\n")
    still_serves(server)


def test_unopened_documents_and_positions_past_the_end_answer_empty(server):
    assert server.inline("file:///never/opened.py", 0, 0)["result"]["items"] == []
    assert server.inline(URI, 99, 0)["result"]["items"] == []
    past_line_end = server.inline(URI, 1, 10_000)["result"]["items"]  # clamped to the line's end, as the spec says
    assert past_line_end and past_line_end[0]["range"]["start"]["character"] == 10_000


@pytest.mark.slow
def test_ten_megabyte_document_and_a_hundred_thousand_character_line(server):
    uri = "file:///work/huge.py"
    body = "".join(f"def function_{i}(argument):\n    return argument * {i}\n\n" for i in range(200_000))
    body = body[: 10 * 1024 * 1024]
    long_line = "x = [" + ", ".join("😀" if i % 7 == 0 else str(i % 10) for i in range(40_000)) + "]"
    assert len(body) >= 10 * 1024 * 1024 - 100 and len(long_line) > 100_000
    text = body + "\n" + long_line + "\nresult = "
    server.open(uri, text)
    last = text.count("\n")
    answer = server.inline(uri, last, 9, timeout=ANSWER_WITHIN)
    assert "result" in answer
    # An edit in the middle of the long line, in UTF-16 units (each emoji counts two).
    middle = long_line[: len(long_line) // 2]
    column = len(middle.encode("utf-16-le")) // 2
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2},
         "contentChanges": [{"range": {"start": {"line": last - 1, "character": column},
                                       "end": {"line": last - 1, "character": column}}, "text": "INSERTED"}]},
    )
    echoed = server.call("codegen/documentText", {"uri": uri}, timeout=ANSWER_WITHIN)["result"]["text"]
    assert echoed == body + "\n" + middle + "INSERTED" + long_line[len(middle):] + "\nresult = "
    assert "result" in server.inline(uri, last - 1, column, timeout=ANSWER_WITHIN)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    still_serves(server)


def test_nul_characters_and_lone_surrogates_in_a_document(server):
    uri = "file:///work/odd.py"
    server.open(uri, "a = '\x00'\nb = '\ud800'\nc = ")
    assert "result" in server.inline(uri, 2, 4)
    assert server.call("codegen/documentText", {"uri": uri})["result"]["text"] == "a = '\x00'\nb = '\ud800'\nc = "
    still_serves(server)


def test_requests_before_initialize_and_after_shutdown(wordy_model_dir):
    raw = RawServer()
    try:
        early = raw.call("textDocument/completion", {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}})
        assert early["error"]["code"] == -32002  # ServerNotInitialized
        raw.initialize({"model": str(wordy_model_dir / "missing"), "device": "cpu"})  # no model needed
        assert raw.call("shutdown")["result"] is None
        late = raw.call("codegen/stats", None, timeout=ANSWER_WITHIN)
        assert late["error"]["code"] == -32600  # InvalidRequest after shutdown
        raw.notify("exit")
        assert raw.proc.wait(timeout=ANSWER_WITHIN) == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()


@pytest.mark.parametrize(
    "message, answer_id, code",
    [
        ([1], None, -32600),
        ({"jsonrpc": "2.0", "id": 3, "method": 5}, 3, -32600),
        ({"jsonrpc": "1.0", "id": 3, "method": "known"}, 3, -32600),
        ({"jsonrpc": "2.0", "id": 3}, 3, -32600),
        ({"jsonrpc": "2.0", "id": 3, "method": "unknown"}, 3, -32601),
        ({"jsonrpc": "2.0", "id": 3, "method": "known"}, 3, -32602),
        ({"jsonrpc": "2.0", "id": [3], "method": "known"}, None, -32600),
    ],
)
def test_unreadable_messages_are_classified_as_the_spec_says(message, answer_id, code):
    problem = unreadable(message, lambda method: method == "known")
    assert (problem.id, problem.code) == (answer_id, code)


def test_a_response_we_cannot_read_is_never_answered():
    problem = unreadable({"jsonrpc": "2.0", "id": {"x": 1}, "result": 1}, lambda method: True)
    assert problem.id is None and problem.method  # reject() answers only requests and unidentifiable messages
