"""Model servers that misbehave: fields of the wrong type, a stream that finishes but never ends, a stream that
never stops, megabytes of error text, a server that never answers; and stream parsing under any chunking."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen_lsp.engines.base import CancelToken, EngineError, Generation, GenerationRequest
from codegen_lsp.engines.config import RemoteConfig
from codegen_lsp.engines.decoding.stopping import FinishReason
from codegen_lsp.engines.remote.engine import OpenAIEngine
from codegen_lsp.engines.remote.streaming import FieldCheck, lines_of, read_stream, sse_events
from codegen_lsp.settings import Settings
from openai_standin import StandIn
from raw_lsp import RawServer

NO_PROGRESS = lambda message, percentage: None  # noqa: E731
# Long enough that a test which waited for it would fail by timing out; the fixes answer at once.
PATIENT = 600.0


def event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode("utf-8") + b"\n\n"


def chunk(text: str, finish: str | None = None, **extra) -> bytes:
    return event({"choices": [{"index": 0, "text": text, "finish_reason": finish}], **extra})


def engine_for(server: StandIn, **settings) -> OpenAIEngine:
    config = RemoteConfig.from_settings(Settings(api_base=server.api_base, request_timeout_seconds=PATIENT, **settings))
    engine = OpenAIEngine(config)
    engine.load(NO_PROGRESS)
    return engine


def generate(engine: OpenAIEngine, tokens: int = 8, cancel: CancelToken | None = None) -> Generation:
    return engine.generate(GenerationRequest(prompt="def f():\n    ", max_new_tokens=tokens), cancel or CancelToken())


# -- stream parsing: any chunking of the bytes reads the same ----------------------------------------------------
pieces = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6)
usage_values = st.one_of(st.integers(-5, 50), st.text(max_size=3), st.none(), st.floats(allow_nan=False), st.booleans(),
                         st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))  # fmt: skip


@st.composite
def streams(draw):
    """(bytes of an SSE stream, the texts it carries, its finish reason or None)."""
    texts = draw(st.lists(pieces, max_size=12))
    body = []
    for text in texts:
        if draw(st.booleans()):
            body.append(draw(st.sampled_from([b": ping\n\n", b"\n", b"event: x\n", b"data: not json\n\n"])))
        extra = {"usage": {"prompt_tokens": draw(usage_values), "completion_tokens": draw(usage_values)}}
        body.append(chunk(text, **(extra if draw(st.booleans()) else {})))
    finish = draw(st.sampled_from([None, "length", "stop"]))
    if finish:
        body.append(chunk("", finish, timings={"cache_n": draw(usage_values), "prompt_n": draw(usage_values)}))
        body.append(chunk("after the finish"))  # never read: the answer is given at finish_reason
    data = b"".join(body).replace(b"\n", b"\r\n") if draw(st.booleans()) else b"".join(body)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    return chunks, texts, finish


@settings(max_examples=300, deadline=None)
@given(streams(), st.integers(1, 16))
def test_any_chunking_of_a_stream_reads_the_same_text(stream, limit):
    chunks, texts, finish = stream
    request = GenerationRequest(prompt="p", max_new_tokens=limit)
    result = Generation(text="", finish_reason=FinishReason.LENGTH)
    events = sse_events(lines_of(iter(chunks)))
    read_stream(events, request, CancelToken(), None, result, FieldCheck(), max_chars=limit * 64)
    assert result.text == "".join(texts[:limit])  # multibyte characters split between chunks come out whole
    assert result.prompt_tokens >= 0 and result.generated_tokens >= 0 and result.reused_tokens >= 0
    if finish and len(texts) <= limit:
        assert result.finish_reason == ("length" if finish == "length" else "eos")
    if len(texts) > limit:
        assert result.finish_reason == "length"  # the token limit holds whatever the server sends


def test_a_line_without_end_is_refused_before_it_fills_memory():
    endless = (b"x" * 4096 for _ in range(1000))
    with pytest.raises(EngineError, match="a line of over"):
        list(lines_of(endless, max_line=1 << 16))


# -- the engine against a misbehaving server ----------------------------------------------------------------------
def test_a_usage_count_of_the_wrong_type_is_ignored_with_one_warning(caplog):
    with StandIn() as server:
        engine = engine_for(server)
        try:
            server.script.stream = [chunk("x = "), chunk("1", "stop", usage={"prompt_tokens": "12", "completion_tokens": {}})]
            with caplog.at_level(logging.WARNING):
                assert generate(engine).text == "x = 1"
                assert generate(engine).text == "x = 1"
            warned = [r.getMessage() for r in caplog.records if "usage.prompt_tokens" in r.getMessage()]
            assert len(warned) == 1 and "not a non-negative integer" in warned[0]
        finally:
            engine.close()


def test_a_finished_stream_is_answered_at_its_finish_reason_though_the_body_never_ends():
    with StandIn() as server:
        engine = engine_for(server)
        try:
            server.script.stream, server.script.then = [chunk("return "), chunk("42", "stop")], "hang"
            result = generate(engine)  # (waiting for the body's end would take PATIENT seconds)
            assert result.text == "return 42" and result.finish_reason == "eos"
            assert server.script.left.wait(30)  # and the connection was closed
        finally:
            engine.close()


def test_a_stream_that_never_stops_ends_at_the_token_limit():
    with StandIn() as server:
        engine = engine_for(server)
        try:
            server.script.stream, server.script.then = [], "endless"
            result = generate(engine, tokens=8)
            assert result.finish_reason == "length" and result.text == "more " * 8
            assert server.script.left.wait(30)
        finally:
            engine.close()


def test_a_huge_error_message_mid_stream_is_cut_for_the_user():
    with StandIn() as server:
        engine = engine_for(server)
        try:
            huge = "the model crashed " + "x" * 200_000
            server.script.stream = [chunk("a"), event({"error": {"message": huge}})]
            with pytest.raises(EngineError) as failed:
                generate(engine)
            assert "the model crashed" in str(failed.value) and len(str(failed.value)) < 400
        finally:
            engine.close()


def test_a_cancel_ends_a_read_that_waits_on_a_silent_stream():
    with StandIn() as server:
        engine = engine_for(server)
        try:
            server.script.stream, server.script.then = [chunk("partial ")], "hang"
            cancel = CancelToken()
            result: list[Generation] = []
            worker = threading.Thread(target=lambda: result.append(generate(engine, cancel=cancel)))
            worker.start()
            assert server.script.left.wait(0.5) is False  # reading, blocked: no chunk comes
            cancel.cancel()
            worker.join(30)
            assert not worker.is_alive() and result[0].finish_reason == "cancelled"
            assert server.script.left.wait(30)
            server.script.stream, server.script.then = None, "close"
            assert generate(engine).text  # the next request gets a fresh connection
        finally:
            engine.close()


# -- a server that accepts the connection and never answers ---------------------------------------------------------
class Silent:
    """Accepts connections and reads them, never writing a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)
            self.accepted.set()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def test_close_ends_a_load_that_waits_on_a_server_that_never_answers():
    silent = Silent()
    engine = OpenAIEngine(RemoteConfig.from_settings(Settings(api_base=silent.api_base, request_timeout_seconds=PATIENT)))
    failed: list[BaseException] = []

    def load() -> None:
        try:
            engine.load(NO_PROGRESS)
        except EngineError as error:
            failed.append(error)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        assert silent.accepted.wait(30)
        engine.close()
        worker.join(30)
        assert not worker.is_alive() and failed
    finally:
        silent.close()


def test_exit_while_the_remote_load_waits_ends_the_server():
    silent = Silent()
    raw = RawServer([sys.executable, "-m", "codegen_lsp", "--stdio"])
    try:
        raw.initialize({"apiBase": silent.api_base, "requestTimeoutSeconds": PATIENT})
        assert silent.accepted.wait(60)  # the load is waiting for GET /models
        raw.notify("exit")
        assert raw.proc.wait(timeout=60) == 1
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
        silent.close()
