"""Robustness, second round: each class an adversarial client found, with several members, through the real
server over stdio with raw bytes (see docs/reliability.md for the guarantee each test shows).

One server serves the module; after every test it must still serve, every request must have had exactly one
answer, and at the end its log must hold no ERROR line and no traceback."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raw_lsp import RawServer, frame, inline_params

URI = "file:///work/robust.py"
TEXT = "import os\nvalue = "
NOTEBOOK = "file:///work/nb.ipynb"
ANSWER_WITHIN = 30


def lenient(examples: int):
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


def initialize(raw: RawServer, options: dict) -> dict:
    capabilities = {
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {"completion": {"completionItem": {"snippetSupport": True}}},
        "notebookDocument": {"synchronization": {"dynamicRegistration": False}},
        "window": {"workDoneProgress": True},
    }
    msg_id = raw.request("initialize", {"processId": None, "rootUri": None, "capabilities": capabilities,
                                        "initializationOptions": options})
    result = raw.response(msg_id, timeout=60)["result"]
    raw.notify("initialized", {})
    return result


@pytest.fixture(scope="module")
def server(wordy_model_dir):
    raw = RawServer()
    raw.capabilities = initialize(raw, {"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4})
    # The server asks to create a progress token; answering it is a response to a request of the server's.
    create = raw.wait_for(lambda m: m.get("method") == "window/workDoneProgress/create", 60)
    raw.send({"jsonrpc": "2.0", "id": create["id"], "result": None})
    raw.progress_began = raw.wait_for(lambda m: m.get("method") == "$/progress", 60)
    assert raw.wait_until_loaded()["state"] == "ready"
    raw.open(URI, TEXT)
    yield raw
    assert raw.close() == 0
    answers_per_request(raw)
    assert_clean_log(raw.stderr)


def answers_per_request(raw: RawServer) -> None:
    answers = Counter(m["id"] for m in raw.seen if "method" not in m and m.get("id") is not None)
    assert not [i for i, n in answers.items() if n != 1], "a request answered more than once"


def assert_clean_log(stderr: str) -> None:
    assert not re.search(r" (ERROR|CRITICAL) ", stderr), stderr[-3000:]
    assert "Traceback" not in stderr and "never retrieved" not in stderr, stderr[-3000:]


def still_serves(raw: RawServer) -> None:
    answer = raw.inline(URI, 1, 8, timeout=ANSWER_WITHIN)
    assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"]


def text_of(raw: RawServer, uri: str):
    return raw.call("codegen/documentText", {"uri": uri}, timeout=ANSWER_WITHIN)["result"]["text"]


def stats_body(msg_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "codegen/stats"}).encode()


def error_messages(raw: RawServer, since: int) -> list[str]:
    return [m["params"]["message"] for m in raw.seen[since:]
            if m.get("method") == "window/showMessage" and m["params"]["type"] == 1]


# -- 1. framing ------------------------------------------------------------------------------------------------
@st.composite
def header_blocks(draw, length: int) -> bytes:
    name = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in "content-length")
    spaces = draw(st.sampled_from(["", " ", "\t"])), draw(st.sampled_from(["", " ", "   ", "\t"]))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    lines = [f"{name}{spaces[0]}:{spaces[1]}{length}".encode()]
    content_type = draw(st.sampled_from([b"", b"Content-Type: application/vscode-jsonrpc; charset=utf-8",
                                          b"content-type:application/vscode-jsonrpc"]))
    if content_type:
        lines.insert(draw(st.integers(0, 1)), content_type)
    return eol * draw(st.integers(0, 2)) + eol.join(lines) + eol + eol


@lenient(40)
@given(st.data())
def test_headers_in_any_http_spelling_are_read(server, data):
    first, second = server.new_id(), server.new_id()
    body = stats_body(first)
    server.send_bytes(data.draw(header_blocks(len(body))) + body + frame(stats_body(second)))
    assert "result" in server.response(first, ANSWER_WITHIN)
    assert "result" in server.response(second, ANSWER_WITHIN)


@pytest.mark.parametrize("name", [b"content-length: %d", b"CONTENT-LENGTH: %d", b"Content-Length:%d",
                                  b"Content-Length :  %d"])
def test_the_issue_headers_do_not_make_the_server_deaf(server, name):
    msg_id, after = server.new_id(), server.new_id()
    body = stats_body(msg_id)
    server.send_bytes(name % len(body) + b"\r\n\r\n" + body)
    server.send(json.loads(stats_body(after)))
    assert "result" in server.response(msg_id, ANSWER_WITHIN) and "result" in server.response(after, ANSWER_WITHIN)


def test_an_understated_length_costs_that_message_only(server):
    lost, after = server.new_id(), server.new_id()
    body = stats_body(lost)
    server.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) - 7) + body + frame(stats_body(after)))
    assert server.wait_for(lambda m: m.get("id") is None and "error" in m, ANSWER_WITHIN)["error"]["code"] == -32700
    assert "result" in server.response(after, ANSWER_WITHIN)
    still_serves(server)


@pytest.mark.parametrize("then_more", [True, False], ids=["next-message-follows", "client-waits"])
def test_an_overstated_length_still_gets_an_answer(server, then_more):
    first, after = server.new_id(), server.new_id()
    body = stats_body(first)
    server.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) + 40) + body)
    if then_more:
        server.send(json.loads(stats_body(after)))
    assert "result" in server.response(first, ANSWER_WITHIN)
    if then_more:
        assert "result" in server.response(after, ANSWER_WITHIN)
    still_serves(server)


@pytest.mark.parametrize("garbage", [b"\x00\xffjunk", b"}}}\r\n", b"Content-Type: x\r\n\r\n", b"a: b\nc\r\n\r\n",
                                     b"Content-Length: nope\r\n\r\n", b"\xef\xbb\xbf"])
def test_stray_bytes_are_skipped_up_to_the_next_header(server, garbage):
    msg_id = server.new_id()
    server.send_bytes(garbage + frame(stats_body(msg_id)))
    assert "result" in server.response(msg_id, ANSWER_WITHIN)


@pytest.mark.parametrize("body", [b'{"jsonrpc": "2.0", "id": 1, "method": "codegen/stats", "params": {"a": NaN}}',
                                  b'{"jsonrpc": "2.0", "id": 1, "method": "codegen/stats", "params": [Infinity]}',
                                  b'{"jsonrpc": "2.0", "id": 1, "method": "codegen/stats", "params": -Infinity}'])
def test_nan_and_infinity_are_not_json(server, body):
    server.send_bytes(frame(body))
    assert server.wait_for(lambda m: m.get("id") is None and "error" in m, ANSWER_WITHIN)["error"]["code"] == -32700


# -- 2. wrong types: a notification is dropped whole, a request gets -32602 -------------------------------------
OTHER = "file:///work/other.py"
CELL = "vscode-notebook-cell:/work/nb.ipynb#C1"
RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 6}}
NOTIFICATIONS = {
    "textDocument/didOpen": {"textDocument": {"uri": OTHER, "languageId": "python", "version": 1, "text": "x"}},
    "textDocument/didChange": {"textDocument": {"uri": URI, "version": 50},
                               "contentChanges": [{"range": RANGE, "text": "CHANGED"}, {"text": "WHOLE"}]},
    "textDocument/didClose": {"textDocument": {"uri": URI}},
    "$/cancelRequest": {"id": 987654},
    "$/setTrace": {"value": "off"},
    "workspace/didChangeWorkspaceFolders": {"event": {"added": [{"uri": "file:///w", "name": "w"}], "removed": []}},
    "window/workDoneProgress/cancel": {"token": "t"},
    "notebookDocument/didOpen": {
        "notebookDocument": {"uri": NOTEBOOK, "notebookType": "jupyter-notebook", "version": 1,
                             "cells": [{"kind": 2, "document": CELL}]},
        "cellTextDocuments": [{"uri": CELL, "languageId": "python", "version": 1, "text": "x = 1"}]},
    "notebookDocument/didChange": {
        "notebookDocument": {"uri": NOTEBOOK, "version": 2},
        "change": {"cells": {"textContent": [{"document": {"uri": URI, "version": 60}, "changes": [{"text": "NB"}]}]}}},
    "notebookDocument/didClose": {"notebookDocument": {"uri": NOTEBOOK}, "cellTextDocuments": [{"uri": URI}]},
}
REQUESTS = {
    "textDocument/inlineCompletion": inline_params(URI, 1, 8),
    "textDocument/completion": {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 8}},
}


def leaf_paths(value, path=()):
    """Every place in a JSON value: the value itself, each member, each item."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, path + (index,))


def replaced(value, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return copy


def at(value, path):
    for step in path:
        value = value[step]
    return value


def wrong_values(original):
    """JSON values of another type than `original` (1.0 stands for 1: JSON has one number type)."""
    if isinstance(original, bool):
        return [None, 0, "true", [], {}]
    if isinstance(original, int):
        return [None, str(original), "x", True, False, 1.5, [], {}, [original]]
    if isinstance(original, str):
        return [None, 0, 42, 1.5, True, [], {}, [original], {"k": 1}]
    if isinstance(original, list):
        return [None, 0, "x", True, {}, {"k": 1}]
    return [None, 0, "x", False, [], [1]]


# Fields whose type is wider than their example's: an id or token is an integer or a string; some are optional.
ALSO_VALID = {
    ("$/cancelRequest", ("id",)): (int, str),
    ("window/workDoneProgress/cancel", ("token",)): (int, str),
    ("notebookDocument/didChange", ("change", "cells")): (type(None),),
    ("notebookDocument/didChange", ("change", "cells", "textContent")): (type(None),),
}


def wrong_for(method, path, original):
    valid = ALSO_VALID.get((method, path), ())
    return [v for v in wrong_values(original) if not (isinstance(v, valid) and not isinstance(v, bool))]


def mutations(templates):
    return st.sampled_from(sorted(templates)).flatmap(
        lambda method: st.sampled_from(list(leaf_paths(templates[method]))).flatmap(
            lambda path: st.sampled_from(wrong_for(method, path, at(templates[method], path))).map(
                lambda new: (method, replaced(templates[method], path, new)))))


@lenient(150)
@given(mutations(NOTIFICATIONS))
def test_a_notification_with_any_wrong_type_changes_nothing(server, mutation):
    method, params = mutation
    since = len(server.seen)
    server.notify(method, params)
    assert text_of(server, URI) == TEXT
    assert text_of(server, OTHER) is None and text_of(server, CELL) is None
    assert not error_messages(server, since)


@lenient(80)
@given(mutations(REQUESTS))
def test_a_request_with_any_wrong_type_gets_invalid_params(server, mutation):
    method, params = mutation
    assert server.call(method, params, ANSWER_WITHIN)["error"]["code"] == -32602


@pytest.mark.parametrize("text", [None, 123, True, ["a"], {"k": 1}])
def test_the_issue_edits_leave_the_document_as_it_was(server, text):
    server.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 70}, "contentChanges": [{"text": text}]})
    server.open("file:///work/typed.py", text)
    assert text_of(server, URI) == TEXT and text_of(server, "file:///work/typed.py") is None


@pytest.mark.parametrize("position", [{"line": "1", "character": "11"}, {"line": 1, "character": True},
                                      {"line": None, "character": 0}, {"line": 1, "character": 2.5}])
def test_the_issue_positions_get_invalid_params(server, position):
    for method in REQUESTS:
        assert server.call(method, {**REQUESTS[method], "position": position})["error"]["code"] == -32602
    assert server.call("textDocument/inlineCompletion", {**REQUESTS["textDocument/inlineCompletion"],
                                                         "textDocument": {"uri": 42}})["error"]["code"] == -32602


@pytest.mark.parametrize("params", [{"uri": 42}, {"uri": None}, {}, None, ["file:///work/robust.py"]])
def test_document_text_takes_a_string_uri_only(server, params):
    assert server.call("codegen/documentText", params)["error"]["code"] == -32602


def test_a_wrong_typed_value_never_reaches_the_log(server):
    marker = "SECRET_WRONG_TYPE_MARKER_8231"
    server.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 80},
                                             "contentChanges": [{"text": [marker]}]})
    server.call("textDocument/inlineCompletion", {**inline_params(URI, 1, 8), "context": {"triggerKind": marker}})
    assert marker not in server.stderr


# -- 3, 4. URI identity ----------------------------------------------------------------------------------------
RESERVED = ":/?#[]@!$&'()*+,;="
NAME = st.text("abcxyz019_-", min_size=1, max_size=6)


def escaped(char: str, lower: bool = False) -> str:
    code = "%{:02X}".format(ord(char))
    return code.lower() if lower else code


@lenient(40)
@given(st.sampled_from(["file:///work/u/", "untitled:"]), NAME, st.sampled_from(RESERVED), NAME)
def test_uris_that_differ_in_escaping_a_reserved_character_are_two_documents(server, base, left, char, right):
    raw_uri, escaped_uri = base + left + char + right, base + left + escaped(char) + right
    server.open(raw_uri, "raw text")
    server.open(escaped_uri, "escaped text")
    assert text_of(server, raw_uri) == "raw text" and text_of(server, escaped_uri) == "escaped text"
    server.notify("textDocument/didClose", {"textDocument": {"uri": raw_uri}})
    assert text_of(server, raw_uri) is None and text_of(server, escaped_uri) == "escaped text"
    server.notify("textDocument/didClose", {"textDocument": {"uri": escaped_uri}})
    assert text_of(server, escaped_uri) is None


@lenient(30)
@given(NAME, st.sampled_from(RESERVED + "é "), st.sampled_from("AZaz09-._~"), NAME)
def test_uris_rfc_3986_calls_equivalent_are_one_document(server, left, reserved, unreserved, right):
    spelled = f"file:///work/e/{left}{escaped(reserved)}{unreserved}{right}.py"
    other = f"FILE:///work/e/{left}{escaped(reserved, lower=True)}{escaped(unreserved)}{right}.py"
    server.open(spelled, "one")
    assert text_of(server, other) == "one"
    server.notify("textDocument/didChange", {"textDocument": {"uri": other, "version": 2}, "contentChanges": [{"text": "two"}]})
    assert text_of(server, spelled) == "two"
    server.notify("textDocument/didClose", {"textDocument": {"uri": other}})
    assert text_of(server, spelled) is None


@pytest.mark.parametrize("name", ["plain.py", "with%20space.py", "caf%C3%A9.py", "x%2Fy.py", "a%5Bb%5D%23c.py"])
def test_the_completion_format_does_not_depend_on_the_uri_spelling(server, name):
    uri = "file:///work/fmt/" + name
    server.open(uri, TEXT)
    items = server.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 8}},
                        ANSWER_WITHIN)["result"]["items"]
    assert items and all(item["insertTextFormat"] == 2 for item in items)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


# -- 6. responses to no request of ours --------------------------------------------------------------------------
@pytest.mark.parametrize("stray", [{"result": None}, {"result": {"x": 1}}, {"error": {"code": 1, "message": "no"}},
                                   {"error": "not an object"}])
def test_a_stray_response_is_ignored_even_with_a_running_requests_id(server, stray):
    since = len(server.seen)
    msg_id = server.new_id()
    request = {"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion",
               "params": inline_params(URI, 1, 8)}
    server.send(request)  # the responses below arrive while it runs (the model takes longer than reading them)
    for other in (msg_id, 99_999_999, None, "x", [1]):
        server.send({"jsonrpc": "2.0", "id": other, **stray})
    assert server.response(msg_id, ANSWER_WITHIN)["result"]["items"]
    server.call("codegen/stats")  # a showMessage about the strays would have come before this answer
    assert not error_messages(server, since)


def test_a_response_to_our_own_request_still_counts(server):
    assert server.progress_began["params"]["value"]["kind"] == "begin"


# -- 7. settings ---------------------------------------------------------------------------------------------------
def configuration(raw: RawServer, settings_json: str) -> None:
    raw.send_bytes(frame(b'{"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": '
                         + settings_json.encode() + b"}}"))


def shown(raw: RawServer, since: int) -> list[dict]:
    raw.call("codegen/stats")  # handled after the notification: what it showed has arrived
    return [m["params"] for m in raw.seen[since:] if m.get("method") == "window/showMessage"]


@pytest.mark.parametrize("settings_json, warned", [
    ('{"maxNewTokens": 1e400, "temperature": 0.0}', ["maxNewTokens"]),
    ('{"codegenLsp": {"maxNewTokens": 1e400, "contextTokens": 1e400}, "pylsp": {"plugins": {}}}',
     ["maxNewTokens", "contextTokens"]),
    ('{"id": null, "maxNewTokens": 4}', []),
    ('{"codegenLsp": {"maxNewTokens": 4}, "pylsp": {}, "rust-analyzer": {"x": 1}}', []),
    ('{"temperature": -1e400, "topP": 1e-400}', ["temperature"]),
])
def test_settings_values_give_one_warning_each_and_the_rest_applies(server, settings_json, warned):
    since = len(server.seen)
    configuration(server, settings_json)
    messages = shown(server, since)
    assert all(m["type"] == 2 for m in messages)  # warnings, never errors
    assert sorted(key for key in warned for m in messages if f"'{key}'" in m["message"]) == sorted(warned)
    assert len(messages) == len(warned)
    still_serves(server)


# -- 5. any budget the settings allow ----------------------------------------------------------------------------
@pytest.mark.parametrize("options, text", [
    ({"contextTokens": 5}, "x = '😀"), ({"contextTokens": 1}, "x = '漢字"), ({"contextTokens": 40}, ""),
    ({"maxNewTokens": 2047, "contextTokens": 0}, "x = 1\n"), ({"contextTokens": 1}, ""),
])
def test_small_budgets_complete_without_an_internal_error(server, options, text):
    since = len(server.seen)
    configuration(server, json.dumps({**options}))
    uri = "file:///work/budget.py"
    server.open(uri, text)
    lines = text.split("\n")
    msg_id = server.request("textDocument/inlineCompletion", inline_params(uri, len(lines) - 1,
                                                                           len(lines[-1].encode("utf-16-le")) // 2))
    try:  # the failure came at prefill, at once; a 2,047-token generation need not run to its end here
        answer = server.response(msg_id, timeout=10)
    except TimeoutError:
        server.notify("$/cancelRequest", {"id": msg_id})
        answer = server.response(msg_id, timeout=ANSWER_WITHIN)
    assert "result" in answer or answer["error"]["code"] == -32800
    assert not error_messages(server, since)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    configuration(server, '{"maxNewTokens": 4, "contextTokens": 0}')


# -- 8. notebooks ----------------------------------------------------------------------------------------------
def test_notebook_sync_is_not_advertised(server):
    assert server.capabilities["capabilities"].get("notebookDocumentSync") is None


def test_notebook_messages_for_a_notebook_never_opened_show_nothing(server):
    since = len(server.seen)
    for version in (2, 3, 4):
        server.notify("notebookDocument/didChange", {"notebookDocument": {"uri": "file:///never.ipynb", "version": version},
                                                     "change": {"cells": {"textContent": []}}})
        server.notify("notebookDocument/didClose", {"notebookDocument": {"uri": "file:///never.ipynb"},
                                                    "cellTextDocuments": []})
    assert not shown(server, since)
    still_serves(server)


def test_a_notebook_a_client_opens_anyway_keeps_its_cells_as_documents(server):
    cell = "vscode-notebook-cell:/work/real.ipynb#W0sZmlsZQ%3D%3D"
    notebook = "file:///work/real.ipynb"
    server.notify("notebookDocument/didOpen", {
        "notebookDocument": {"uri": notebook, "notebookType": "jupyter-notebook", "version": 1,
                             "cells": [{"kind": 2, "document": cell}]},
        "cellTextDocuments": [{"uri": cell, "languageId": "python", "version": 1, "text": "import os\n"}]})
    server.notify("notebookDocument/didChange", {
        "notebookDocument": {"uri": notebook, "version": 2},
        "change": {"cells": {"textContent": [{"document": {"uri": cell, "version": 2}, "changes": [
            {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "value = "}]}]}}})
    assert text_of(server, cell) == "import os\nvalue = "
    assert server.inline(cell, 1, 8)["result"]["items"]
    server.notify("notebookDocument/didClose", {"notebookDocument": {"uri": notebook}, "cellTextDocuments": [{"uri": cell}]})
    assert text_of(server, cell) is None


# -- 9. log hygiene ------------------------------------------------------------------------------------------------
def test_cancelled_and_superseded_requests_log_no_error(server):
    ids = [server.request("textDocument/inlineCompletion", inline_params(URI, 1, 8)) for _ in range(4)]
    server.notify("$/cancelRequest", {"id": ids[-1]})
    answers = [server.response(i, ANSWER_WITHIN) for i in ids]
    assert answers[-1].get("error", {}).get("code") in (None, -32800)
    time.sleep(0.5)
    assert_clean_log(server.stderr)


def test_exit_during_a_generation_is_clean(wordy_model_dir):
    raw = RawServer()
    try:
        initialize(raw, {"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 2000})
        create = raw.wait_for(lambda m: m.get("method") == "window/workDoneProgress/create", 60)
        raw.send({"jsonrpc": "2.0", "id": create["id"], "result": None})
        assert raw.wait_until_loaded()["state"] == "ready"
        raw.open(URI, TEXT)
        raw.request("textDocument/inlineCompletion", inline_params(URI, 1, 8))
        deadline = time.monotonic() + ANSWER_WITHIN
        while raw.call("codegen/stats")["result"]["max_running"] == 0:  # until the generation is running
            assert time.monotonic() < deadline
            time.sleep(0.02)
        raw.notify("exit")
        assert raw.proc.wait(timeout=ANSWER_WITHIN) == 1  # exit without shutdown
        time.sleep(0.2)
        assert_clean_log(raw.stderr)
        assert "closed file" not in raw.stderr
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
