"""In process, as properties: which URIs name one document (RFC 3986), everywhere the server keeps something per
document; the settings reader never raises on any JSON; any prompt budget the settings allow completes.
tests/test_protocol_robustness.py shows the same classes through the real server."""

from __future__ import annotations

import asyncio
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen_lsp.cache import TypedThrough
from codegen_lsp.postprocess import Completion
from codegen_lsp.settings import FIELD_TYPES, Settings, parse_settings
from codegen_lsp.snippets import neighbours_from
from codegen_lsp.lsp.uris import uri_key

RESERVED = ":/?#[]@!$&'()*+,;="
UNRESERVED = string.ascii_letters + string.digits + "-._~"
SEGMENT = st.text(UNRESERVED, min_size=1, max_size=8)


def escape(char: str, lower: bool = False) -> str:
    code = "%{:02X}".format(ord(char))
    return code.lower() if lower else code


# -- URI keys ----------------------------------------------------------------------------------------------------
@given(SEGMENT, st.sampled_from(RESERVED), SEGMENT, st.sampled_from(["file:///src/", "untitled:", "file://host/a/"]))
def test_a_reserved_character_and_its_escape_are_different_uris(left, char, right, base):
    assert uri_key(base + left + char + right) != uri_key(base + left + escape(char) + right)


@given(SEGMENT, st.sampled_from(RESERVED + " é"), st.sampled_from(UNRESERVED), SEGMENT)
def test_hex_case_unreserved_escapes_and_scheme_case_are_the_same_uri(left, reserved, unreserved, right):
    one = f"file:///src/{left}{escape(reserved)}{unreserved}{right}"
    same = f"FILE:///src/{left}{escape(reserved, lower=True)}{escape(unreserved, lower=True)}{right}"
    assert uri_key(one) == uri_key(same)


@given(st.text(max_size=40))
def test_a_key_is_its_own_key(text):
    key = uri_key(text)
    assert uri_key(key) == key


def test_host_case_is_ignored_but_userinfo_and_path_case_are_not():
    assert uri_key("file://SERVER/Share/x.py") == uri_key("file://server/Share/x.py")
    assert uri_key("file:///Src/x.py") != uri_key("file:///src/x.py")
    assert uri_key("ssh://User@HOST/x") == uri_key("ssh://User@host/x") != uri_key("ssh://user@host/x")


def test_typed_through_follows_the_uri_key():
    shown = TypedThrough()
    shown.remember("file:///src/x%2Fy.py", "a = ", "", [Completion("value")])
    assert shown.lookup("file:///src/x/y.py", "a = v", "") is None  # another document
    assert shown.lookup("file:///src/x%2fy.py", "a = v", "") == [Completion("alue")]  # the same one
    shown.forget("FILE:///src/x%2fy.py")
    assert shown.lookup("file:///src/x%2Fy.py", "a = v", "") is None


class Doc:
    def __init__(self, uri: str) -> None:
        self.uri, self.language_id, self.source = uri, "python", "import os\n"


def test_neighbours_leave_out_only_the_current_document():
    docs = [Doc("file:///src/x%2Fy.py"), Doc("file:///src/x/y.py")]
    assert len(neighbours_from(docs, "file:///src/x/y.py")) == 1
    assert len(neighbours_from(docs, "file:///src/x%2fy.py")) == 1
    assert len(neighbours_from(docs, "file:///src/other.py")) == 2


# -- the settings reader -----------------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(sorted({"".join(p.title() if i else p for i, p in enumerate(n.split("_"))) for n in FIELD_TYPES}))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=4), st.sampled_from(["flat", "section", "section-and-others"]))
def test_any_json_is_taken_or_named_and_never_raises(values, shape):
    raw = {"flat": values, "section": {"codegenLsp": values},
           "section-and-others": {"pylsp": {"x": 1}, "codegenLsp": values, "rust-analyzer": None}}[shape]
    new, messages = parse_settings(json.loads(json.dumps(raw)))
    assert isinstance(new, Settings)
    rejected = {m.split("'")[1] for m in messages}
    for key in values:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
        if key not in rejected:
            assert getattr(new, snake) == values[key] or isinstance(values[key], float)  # taken as given
    assert len(messages) == len(rejected)  # one message per rejected key


def test_the_issue_settings():
    new, messages = parse_settings(json.loads('{"maxNewTokens": 1e400, "temperature": 0.5}'))
    assert new.temperature == 0.5 and new.max_new_tokens == 64 and len(messages) == 1 and "maxNewTokens" in messages[0]
    assert parse_settings({"id": None, "maxNewTokens": 5}) == (Settings(max_new_tokens=5), [])
    assert parse_settings({"codegenLsp": {"maxNewTokens": 7}, "pylsp": {}})[0].max_new_tokens == 7
    assert parse_settings({"codegenLsp": None, "pylsp": {}}) == (Settings(), [])
    assert "must be an object" in parse_settings({"codegenLsp": [1], "pylsp": {}})[1][0]


# -- any budget the settings allow ---------------------------------------------------------------------------------
TEXTS = st.lists(st.sampled_from(["x = '", "😀", "漢字", "é", "\n", "    ", "def f():", "a", "👩‍👩‍👧", " "]), max_size=12)


@pytest.fixture(scope="module")
def completer(tiny_model_dir):
    from codegen_lsp.completion import Completer

    errors: list[str] = []
    base = Settings(model=str(tiny_model_dir), device="cpu", max_new_tokens=2, cache_entries=0, typed_through=False)
    completer = Completer(base, on_error=errors.append)
    assert asyncio.run(completer.load(lambda *args: None))
    completer.errors = errors
    yield completer
    completer.close()


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.data(), st.integers(0, 80) | st.sampled_from([1_000_000]), st.integers(1, 6))
def test_any_context_budget_completes_without_an_error(completer, pieces, data, context_tokens, max_new):
    text = "".join(pieces)
    offset = data.draw(st.integers(0, len(text)))
    completer.update_settings(completer.settings.replace(context_tokens=context_tokens, max_new_tokens=max_new))
    result = asyncio.run(completer.complete("file:///b.py", text, offset, "python"))
    assert isinstance(result, list) and completer.errors == []


@pytest.mark.parametrize("max_new", [2040, 2047, 2048])
@pytest.mark.parametrize("prompt", ["x = 1\n" * 400, ""])
def test_the_largest_max_new_tokens_and_an_empty_prompt_still_generate(completer, max_new, prompt):
    """The engine starts from the model's start token when nothing of the prompt is left."""
    from codegen_lsp.engines import GenerationRequest
    from codegen_lsp.engines.base import CancelToken

    engine = completer.engine
    request = GenerationRequest(prompt=prompt, max_new_tokens=max_new, temperature=0.0, top_p=1.0)
    generation = engine.generate(request, CancelToken(), lambda text: len(text) > 0)  # stop after the first token
    assert 1 <= generation.prompt_tokens <= max(1, engine.context_window - max_new)
    assert generation.finish_reason in ("cut", "eos", "stop") and generation.generated_tokens >= 1


# -- typed decoding keeps the values a handler expects ---------------------------------------------------------------
def test_strict_decoding_keeps_plain_values_and_enums_as_before():
    from codegen_lsp.server import create_server

    protocol = create_server(Settings()).protocol
    opened = protocol.structure_message({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": "file:///a.py", "languageId": "python", "version": 1, "text": "x"}}})
    assert type(opened.params.text_document.language_id) is str  # printed into the prompt as "python"
    asked = protocol.structure_message({"jsonrpc": "2.0", "id": 1, "method": "textDocument/inlineCompletion", "params": {
        "textDocument": {"uri": "file:///a.py"}, "position": {"line": 0, "character": 1.0}, "context": {"triggerKind": 1}}})
    assert asked.params.context.trigger_kind is asked.params.context.trigger_kind.Invoked
    assert type(asked.params.position.character) is int and asked.params.position.character == 1
