"""The remote engine against REAL OpenAI-compatible servers on 127.0.0.1 (`transformers serve` with the
suite's tiny CodeGen; llama.cpp's llama-server with a tiny GGUF written here), plus its pure helpers.

What a user would notice: completions arrive; stop sequences end them; a cancelled request stops the
server's work; a server that is down gives one clear message, and completions resume when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from codegen_lsp.completion import Completer
from codegen_lsp.engines.base import CancelToken, EngineError, GenerationRequest
from codegen_lsp.engines.config import RemoteConfig
from codegen_lsp.engines.remote.engine import CHARS_PER_TOKEN, OpenAIEngine, completion_body, estimate_tokens
from codegen_lsp.engines.remote.errors import is_context_overflow, shorter_prompt, status_error_message
from codegen_lsp.engines.remote.streaming import DONE, parse_chunk, parse_sse_line
from codegen_lsp.engines.remote.transport import auth_headers, server_root
from codegen_lsp.settings import Settings
from lsp_helpers import SERVER_COMMAND, field, inline, open_document, stats, wait_for_state
from remote_servers import (  # noqa: F401  (fixtures)
    LLAMA_CONTEXT,
    ServerProcess,
    free_port,
    llama_server,
    require_transformers_serve,
    start_llama_server,
    tiny_gguf,
    transformers_command_env,
    transformers_server,
)

NO_PROGRESS = lambda message, percentage: None  # noqa: E731


def connect(server: ServerProcess, **settings) -> OpenAIEngine:
    engine = OpenAIEngine(RemoteConfig.from_settings(Settings(api_base=server.api_base, **settings)))
    engine.load(NO_PROGRESS)
    return engine


def generate(engine: OpenAIEngine, prompt: str, max_new_tokens: int = 16, **fields):
    return engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=max_new_tokens, **fields), CancelToken())


def plain_completion(server: ServerProcess, model: str, prompt: str, max_tokens: int) -> str:
    """The same request without streaming, straight to the server: what the engine's stream must add up to."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "stream": False}
    return httpx.post(f"{server.api_base}/completions", json=body, timeout=60).json()["choices"][0]["text"]


# -- pure helpers ---------------------------------------------------------------------------------------
def test_sse_lines_yield_payloads_done_and_nothing_for_the_rest():
    assert parse_sse_line('data: {"choices": [{"text": "x"}]}') == {"choices": [{"text": "x"}]}
    assert parse_sse_line("data: [DONE]") is DONE
    for other in ("", ": ping", "event: completion", "id: 3", "data: not json"):
        assert parse_sse_line(other) is None
    with pytest.raises(EngineError, match="out of memory"):
        parse_sse_line('data: {"error": {"message": "out of memory", "code": 500}}')


def test_chunks_of_openai_vllm_and_llama_cpp_shapes():
    assert parse_chunk({"choices": [{"text": "ab", "finish_reason": None}]}) == ("ab", None)
    assert parse_chunk({"choices": [{"text": "", "finish_reason": "length"}]}) == ("", "length")
    assert parse_chunk({"choices": [], "usage": {"completion_tokens": 3}}) == ("", None)  # vLLM's usage chunk
    assert parse_chunk({"content": "x", "stop": False}) == ("x", None)  # llama.cpp /infill
    assert parse_chunk({"content": "", "stop": True, "stop_type": "limit"}) == ("", "length")


def test_request_body_streams_with_stop_sequences_and_puts_healed_text_back():
    request = GenerationRequest(prompt="def f(x", heal=")", max_new_tokens=9, stop=("\n\n",), temperature=0.2)
    body = completion_body(request, "m")
    assert body["stream"] is True and body["max_tokens"] == 9 and body["stop"] == ["\n\n"]
    assert body["prompt"] == "def f(x)" and body["model"] == "m" and body["temperature"] == 0.2


def test_api_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-123")
    assert auth_headers("MY_KEY") == {"Authorization": "Bearer sk-123"}
    monkeypatch.delenv("MY_KEY")
    assert auth_headers("MY_KEY") == {}


def test_error_messages_say_what_to_fix_and_never_carry_the_key():
    refused = status_error_message(401, '{"error": {"message": "Invalid API Key"}}', "http://h/v1", "m", "MY_KEY")
    assert "$MY_KEY" in refused and "Invalid API Key" in refused
    rejected = status_error_message(404, '{"error": {"message": "The model `x` does not exist."}}', "http://h/v1", "x", "K")
    assert "rejected model 'x'" in rejected
    other = status_error_message(500, "<html>boom</html>", "http://h/v1", "x", "K")
    assert "HTTP 500" in other and "boom" in other


def test_infill_lives_beside_v1():
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://gpu-box/api") == "http://gpu-box/api"


def test_estimate_overcounts_ordinary_code(wordy_model_dir):
    """Without the model's tokenizer, prompts must come out shorter than the window, not longer."""
    import inspect

    from transformers import AutoTokenizer

    import codegen_lsp.completion as sample

    tokenizer = AutoTokenizer.from_pretrained(wordy_model_dir)
    source = inspect.getsource(sample)
    assert estimate_tokens(source) >= len(tokenizer.encode(source)) > len(source) / (2 * CHARS_PER_TOKEN)


def test_unreachable_server_is_a_clear_error():
    engine = OpenAIEngine(RemoteConfig(api_base=f"http://127.0.0.1:{free_port()}/v1", api_model="m"))
    with pytest.raises(EngineError, match="cannot reach the completion server at http://127.0.0.1"):
        engine.load(NO_PROGRESS)


# -- transformers serve (no [DONE]; the connection closes) ---------------------------------------------------
@pytest.mark.slow
def test_transformers_serve_streams_the_same_text_as_a_plain_request(transformers_server, wordy_model_dir):
    engine = connect(transformers_server, model=str(wordy_model_dir))
    try:
        assert engine.model_name == str(wordy_model_dir)  # learned from GET /models
        assert engine.tokenizer is not None  # the model's own tokenizer, from the local directory
        assert engine.context_window == 2048  # from the local config (n_positions)
        result = generate(engine, "def load(path):\n    ", 12)
        # Streamed pieces, counted as they come: transformers serve sends tokens decoded together in one chunk
        # when its queue holds several, so the count is at most the 12 tokens (it sends no usage).
        assert result.finish_reason == "length" and 0 < result.generated_tokens <= 12
        assert result.text == plain_completion(transformers_server, str(wordy_model_dir), "def load(path):\n    ", 12)
    finally:
        engine.close()


@pytest.mark.slow
def test_transformers_serve_stop_sequence_ends_the_text_before_it(transformers_server, wordy_model_dir):
    engine = connect(transformers_server, model=str(wordy_model_dir))
    try:
        full = generate(engine, "import os\n", 16).text
        stop = full[len(full) // 2 : len(full) // 2 + 3]
        result = generate(engine, "import os\n", 16, stop=(stop,))
        assert result.finish_reason == "stop"
        assert result.text == full[: full.index(stop)]  # transformers serve leaves the stop in; it must go
    finally:
        engine.close()


@pytest.mark.slow
def test_transformers_serve_stops_generating_when_cancelled(transformers_server, wordy_model_dir):
    """Cancel a long generation after its first chunks: the server's CPU goes idle, where the same
    server busy generating burns CPU at a rate measured side by side in this run (this server logs
    nothing on a disconnect, so its CPU time is what shows it stopped)."""
    engine = connect(transformers_server, model=str(wordy_model_dir))
    try:
        before, started = transformers_server.cpu_seconds(), time.perf_counter()
        generate(engine, "x = ", 300)
        busy_rate = (transformers_server.cpu_seconds() - before) / (time.perf_counter() - started)
        cancel, seen = CancelToken(), []

        def cancel_after_three(text: str) -> bool:
            seen.append(text)
            if len(seen) == 3:
                cancel.cancel()
            return False

        result = engine.generate(GenerationRequest(prompt="x = ", max_new_tokens=1500), cancel, cancel_after_three)
        assert result.finish_reason == "cancelled" and 3 <= result.generated_tokens < 1500
        time.sleep(0.2)  # the server notices the closed connection at its next chunk
        before, started = transformers_server.cpu_seconds(), time.perf_counter()
        time.sleep(0.6)
        idle_rate = (transformers_server.cpu_seconds() - before) / (time.perf_counter() - started)
        assert idle_rate < busy_rate / 4, (idle_rate, busy_rate)
        # and it serves the next request whole (the count is of chunks: transformers serve may merge tokens in one)
        after = generate(engine, "y = ", 4)
        assert after.finish_reason == "length" and after.text and 0 < after.generated_tokens <= 4, after
    finally:
        engine.close()


@pytest.mark.slow
def test_transformers_serve_rejects_an_unknown_model_clearly(transformers_server):
    engine = OpenAIEngine(RemoteConfig(api_base=transformers_server.api_base, api_model="no-such-model"))
    with pytest.raises(EngineError, match="rejected model 'no-such-model'"):
        engine.load(NO_PROGRESS)


@pytest.mark.slow
def test_api_key_is_sent_but_never_logged(transformers_server, wordy_model_dir, monkeypatch, caplog):
    monkeypatch.setenv("CODEGEN_TEST_KEY", "sk-very-secret")
    caplog.set_level(logging.DEBUG)
    engine = connect(transformers_server, model=str(wordy_model_dir), api_key_env="CODEGEN_TEST_KEY")
    try:
        assert engine._client.headers["authorization"] == "Bearer sk-very-secret"
        assert generate(engine, "a = ", 3).text
    finally:
        engine.close()
    assert caplog.records and "sk-very-secret" not in caplog.text


# -- llama.cpp llama-server ([DONE], cancel logging, /infill, API keys) ---------------------------------------
@pytest.mark.slow
def test_llama_server_completion_context_and_done(llama_server):
    engine = connect(llama_server)  # no --api-model: the first model the server lists
    try:
        assert engine.model_name == "tiny-llama"
        assert engine.tokenizer is None  # a GGUF alias is no tokenizer: the estimate is used
        assert engine.context_window == LLAMA_CONTEXT  # the slot's context, from GET /models
        assert engine.infill  # the GGUF has FIM tokens, so /infill answered
        result = generate(engine, "def main():\n    ", 20)
        assert result.finish_reason == "length" and result.generated_tokens == 20
        assert result.text == plain_completion(llama_server, "tiny-llama", "def main():\n    ", 20)
    finally:
        engine.close()


@pytest.mark.slow
def test_llama_server_stop_sequence(llama_server):
    engine = connect(llama_server)
    try:
        full = generate(engine, "for item in ", 24).text
        stop = full[len(full) // 2 : len(full) // 2 + 3]
        result = generate(engine, "for item in ", 24, stop=(stop,))
        assert result.text == full[: full.index(stop)]  # llama.cpp stops there itself: finish_reason "stop"
        assert result.generated_tokens < 24
    finally:
        engine.close()


@pytest.mark.slow
def test_llama_server_fills_in_the_middle_through_infill(llama_server):
    engine = connect(llama_server)
    try:
        prefix, suffix = "def total(values):\n    ", "\n    return result\n"
        result = generate(engine, prefix, 12, suffix=suffix)
        body = {"input_prefix": prefix, "input_suffix": suffix, "n_predict": 12, "temperature": 0.0}
        direct = httpx.post(f"{llama_server.root}/infill", json=body, timeout=60).json()["content"]
        assert result.text == direct
        assert result.text != generate(engine, prefix, 12).text  # the suffix changed what the model saw
    finally:
        engine.close()


@pytest.mark.slow
def test_llama_server_cancel_closes_the_stream_and_the_server_stops(llama_server):
    engine = connect(llama_server)
    try:
        cancel = CancelToken()

        def cancel_once_text_arrives(text: str) -> bool:
            if text:
                cancel.cancel()
            return False

        wanted = LLAMA_CONTEXT - 64
        result = engine.generate(GenerationRequest(prompt="x", max_new_tokens=wanted), cancel, cancel_once_text_arrives)
        assert result.finish_reason == "cancelled" and result.generated_tokens < wanted
        # The server stopped decoding when the stream closed: its one slot goes idle having decoded far fewer
        # tokens than were asked for (its state, polled; a busy machine only makes this slower).
        slot = wait_for_idle_slot(llama_server, timeout=120)
        assert not slot.get("is_processing") and decoded_tokens(slot) < wanted // 2, slot
        assert generate(engine, "y", 4).generated_tokens == 4  # the one slot is free again
    finally:
        engine.close()


def wait_for_idle_slot(server: ServerProcess, timeout: float) -> dict:
    """llama-server's `/slots` (on by default): the first slot once it is not processing a task."""
    deadline = time.monotonic() + timeout
    while True:
        slot = httpx.get(server.root + "/slots", timeout=10).json()[0]
        if not slot.get("is_processing") or time.monotonic() > deadline:
            return slot
        time.sleep(0.1)


def decoded_tokens(slot: dict) -> int:
    """Tokens the slot decoded for its last task (`next_token` is one object, or a list of one, by version)."""
    next_token = slot.get("next_token")
    return (next_token[0] if isinstance(next_token, list) else next_token)["n_decoded"]


@pytest.mark.slow
def test_llama_server_api_key(tiny_gguf, tmp_path, monkeypatch):
    server = start_llama_server(tiny_gguf, tmp_path, 4096, extra=["--api-key", "sk-right"])
    try:
        monkeypatch.setenv("CODEGEN_TEST_KEY", "sk-wrong")
        with pytest.raises(EngineError, match=r"refused the API key .*\$CODEGEN_TEST_KEY"):
            connect(server, api_key_env="CODEGEN_TEST_KEY")
        monkeypatch.setenv("CODEGEN_TEST_KEY", "sk-right")
        engine = connect(server, api_key_env="CODEGEN_TEST_KEY")
        assert generate(engine, "a", 3).generated_tokens == 3
        engine.close()
    finally:
        server.stop()


@pytest.mark.slow
async def test_completer_recovers_when_the_server_comes_back(tiny_gguf, tmp_path):
    """Down at load → one error; back → completions resume; down mid-session → an error, back → resume."""
    server = start_llama_server(tiny_gguf, tmp_path, 4096)
    server.stop()
    errors: list[str] = []
    completer = Completer(Settings(api_base=server.api_base, max_new_tokens=8), on_error=errors.append)
    # In a comment, so that whatever the random model writes parses (code that does not parse is not shown).
    text = "def main():\n    # value: "
    try:
        assert not await completer.load(NO_PROGRESS)
        assert len(errors) == 1 and "cannot reach the completion server" in errors[0]
        assert await completer.complete("file:///a.py", text, len(text), "python") == []
        server.start()
        completions = await complete_eventually(completer, text)
        assert completions and completer.status()["state"] == "ready"
        assert completer.status()["model"] == "tiny-llama"  # the served model, not the default --model
        server.stop()
        assert await completer.complete("file:///a.py", text + "x", len(text) + 1, "python") == []
        assert "cannot reach the completion server" in errors[-1]
        server.start()
        assert await complete_eventually(completer, text + "y")
    finally:
        completer.close()
        server.stop()


async def complete_eventually(completer: Completer, text: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        completions = await completer.complete("file:///a.py", text, len(text), "python")
        if completions:
            return completions
        await asyncio.sleep(0.5)
    return []


# -- through the real LSP server over stdio -----------------------------------------------------------------
@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def lsp(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.slow
async def test_lsp_server_down_one_message_then_completions_resume(lsp: LanguageClient, wordy_model_dir, tmp_path):
    require_transformers_serve()
    port = free_port()
    command, env = transformers_command_env(wordy_model_dir, port)
    server = ServerProcess(command, port, tmp_path / "serve.log", env)
    uri, text = "file:///work/remote.py", "import os\n\ndef main():\n    path = os."
    states: list[str] = []
    lsp.feature("codegen/status")(lambda params: states.append(params.state))
    try:
        await lsp.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
                initialization_options={"apiBase": server.api_base, "model": str(wordy_model_dir), "maxNewTokens": 6},
            )
        )
        await wait_for_state(lsp, ("failed",))
        open_document(lsp, uri, text)
        for _ in range(3):  # keystrokes while the server is down: empty, and no further popups
            assert not (await inline(lsp, uri, 3, 15)).items
        server.start()
        items = await inline_eventually(lsp, uri, 3, 15)
        assert items and items[0].insert_text.strip(), (await stats(lsp), lsp.messages)
        assert field(await stats(lsp), "engine") == "openai"
        assert states[-1] == "ready" and "failed" in states  # the status bar follows the recovery
        errors = [m.message for m in lsp.messages if m.type == types.MessageType.Error]
        assert len(errors) == 1 and "cannot reach the completion server" in errors[0], errors
    finally:
        server.stop()


async def inline_eventually(client, uri, line, character, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await inline(client, uri, line, character)
        if result.items:
            return result.items
        await asyncio.sleep(0.5)
    return []


@pytest.mark.slow
def test_llama_server_prompt_longer_than_the_window_is_retried_shorter(tiny_gguf, tmp_path):
    """Estimated token counts can undercount text dense in short tokens: the server's refusal is not the end."""
    server = start_llama_server(tiny_gguf, tmp_path, 1024)
    try:
        engine = connect(server)
        assert engine.tokenizer is None and engine.context_window == 1024
        dense = "".join(f"{i % 10} " for i in range(1500)) + "\nx = "  # ~1 token per character
        result = generate(engine, dense, 4)
        assert result.generated_tokens == 4 and 0 < result.prompt_tokens < 1024
        engine.close()
    finally:
        server.stop()


def test_overflow_messages_of_each_server_are_recognised_and_the_newer_half_kept():
    for message in (
        "This model's maximum context length is 2048 tokens. However, you requested 3000 tokens",  # vLLM
        "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it",  # llama.cpp
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000",  # TGI
        "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000",  # TGI
    ):
        assert is_context_overflow(message)
    assert not is_context_overflow("Server is pinned to 'a'; requested 'b'.")
    prompt = "".join(f"line {i}\n" for i in range(40))
    shorter = shorter_prompt(prompt)
    assert prompt.endswith(shorter) and shorter.startswith("line ") and len(shorter) <= len(prompt) // 2 + 8
    assert shorter_prompt("<fim_prefix>" + prompt + "<fim_suffix>\n<fim_middle>") is None  # a template stays whole


# -- fill-in-the-middle: /infill on llama.cpp, else the model's template rendered by the Completer ---------------
@pytest.fixture(scope="module")
def fim_tokenizer_dir(tmp_path_factory):
    """A local tokenizer with StarCoder's FIM tokens: what `--model` names for a FIM model served remotely."""
    from tiny_model import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]})
    directory = tmp_path_factory.mktemp("fim-tokenizer")
    tokenizer.save_pretrained(directory)
    return directory


@pytest.mark.slow
async def test_completer_renders_the_fim_template_where_the_server_has_no_infill(transformers_server, fim_tokenizer_dir):
    completer = Completer(Settings(api_base=transformers_server.api_base, model=str(fim_tokenizer_dir)))
    try:
        assert await completer.load(NO_PROGRESS)
        assert completer.fim is not None and completer.fim.family == "starcoder"
    finally:
        completer.close()


@pytest.mark.slow
async def test_completer_leaves_fim_to_llama_cpp_infill(llama_server, fim_tokenizer_dir):
    errors: list[str] = []
    settings = Settings(api_base=llama_server.api_base, model=str(fim_tokenizer_dir), max_new_tokens=8)
    completer = Completer(settings, on_error=errors.append)
    try:
        assert await completer.load(NO_PROGRESS)
        assert completer.engine.tokenizer is not None and completer.fim is None  # no template on top of /infill
        text = "def total(values):\n    result = \n    return result\n"
        completions = await completer.complete("file:///t.py", text, text.index(" = ") + 3, "python")
        assert isinstance(completions, list) and errors == []
    finally:
        completer.close()
