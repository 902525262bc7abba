"""The remote engine on a server shared by a team (issue 14): alternatives as one request with `n`, overload
answers backed off and told once, https with a private CA, proxies from the environment (a stand-in server
records what arrives); against the real llama-server: several editors keep their own slots' prefix caches, and
`n` gives alternatives from one request."""

from __future__ import annotations

import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from codegen_lsp.completion import Completer
from codegen_lsp.engines.base import CancelToken, EngineError, GenerationRequest
from codegen_lsp.engines.config import RemoteConfig
from codegen_lsp.engines.remote.choices import seed_groups
from codegen_lsp.engines.remote.engine import OpenAIEngine
from codegen_lsp.engines.remote.overload import Backoff, ServerBusy, retry_after_seconds
from codegen_lsp.settings import Settings
from lsp_helpers import SERVER_COMMAND, inline, open_document, stats
from openai_standin import StandIn, make_certificates, server_tls
from remote_servers import start_llama_server, tiny_gguf  # noqa: F401  (fixture)

NO_PROGRESS = lambda message, percentage: None  # noqa: E731
TEXT = "def total(values):\n    result = 0\n    for value in values:\n        result = "


def engine_for(api_base: str, clock=time.monotonic, **settings) -> OpenAIEngine:
    engine = OpenAIEngine(RemoteConfig.from_settings(Settings(api_base=api_base, **settings)), clock=clock)
    engine.load(NO_PROGRESS)
    return engine


# -- alternatives: one request with n ---------------------------------------------------------------------------
def test_sampled_alternatives_are_grouped_into_one_request():
    greedy = GenerationRequest(prompt="x", max_new_tokens=8)
    sampled = [GenerationRequest(prompt="x", max_new_tokens=8, temperature=0.8, top_p=0.95, seed=s) for s in (1, 2, 3)]
    assert seed_groups([greedy, *sampled], None) == [[0], [1, 2, 3]]
    assert seed_groups([greedy, *sampled], 2) == [[0], [1, 2], [3]]  # llama.cpp: n at most its slots
    assert seed_groups([greedy, greedy], None) == [[0], [1]]  # greedy requests are never merged


async def test_invoked_alternatives_reach_the_server_as_one_request_with_n():
    with StandIn() as server:
        completer = Completer(Settings(api_base=server.api_base, max_new_tokens=6, candidates=3))
        try:
            assert await completer.load(NO_PROGRESS)
            automatic = await completer.complete("file:///a.py", TEXT, len(TEXT), "python")
            assert len(server.completions()) == 1 and "n" not in server.completions()[0].body
            invoked = await completer.complete("file:///a.py", TEXT, len(TEXT), "python", invoked=True)
            sent = server.completions()[1:]
            assert len(sent) == 1, [s.body for s in sent]  # not one request per alternative
            assert sent[0].body["n"] == 2 and sent[0].body["temperature"] > 0
            assert invoked[0] == automatic[0] and len(invoked) == 3  # the greedy answer stays first
        finally:
            completer.close()


def test_without_a_cached_greedy_answer_it_goes_alongside_the_n_request():
    with StandIn() as server:
        engine = engine_for(server.api_base)
        try:
            greedy = GenerationRequest(prompt="x = ", max_new_tokens=5)
            sampled = [GenerationRequest(prompt="x = ", max_new_tokens=5, temperature=0.8, seed=s) for s in (1, 2)]
            results = engine.generate_many([greedy, *sampled], CancelToken())
            bodies = [s.body for s in server.completions()]
            assert sorted(b.get("n", 1) for b in bodies) == [1, 2] and len(bodies) == 2
            assert len({r.text for r in results}) == 3 and all(r.text for r in results)
        finally:
            engine.close()


def test_a_server_that_ignores_n_gets_the_missing_choices_separately():
    with StandIn() as server:
        server.script.honours_n = False  # as transformers serve does
        engine = engine_for(server.api_base)
        try:
            sampled = [GenerationRequest(prompt="y = ", max_new_tokens=4, temperature=0.8, seed=s) for s in (1, 2, 3)]
            results = engine.generate_many(sampled, CancelToken())
            assert len(results) == 3 and all(r.text for r in results)
            assert engine.max_choices == 1  # from now on it asks for choices one by one
        finally:
            engine.close()


# -- overload: back off, tell the user once ----------------------------------------------------------------------
def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    clock = [0.0]
    backoff = Backoff(clock=lambda: clock[0])
    assert [backoff.overloaded(None) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.remaining() == 30
    backoff.succeeded()
    assert backoff.remaining() == 0 and backoff.overloaded(3.0) == 3.0


@pytest.mark.parametrize("status", [429, 503])
async def test_overload_backs_off_for_retry_after_then_resumes(status):
    with StandIn() as server:
        errors: list[str] = []
        completer = Completer(Settings(api_base=server.api_base, max_new_tokens=4, cache_entries=0), on_error=errors.append)
        now = [0.0]
        try:
            assert await completer.load(NO_PROGRESS)
            completer.engine.backoff = Backoff(clock=lambda: now[0])  # the pause's clock, moved by hand
            server.script.overloads = [(status, 1)]
            assert await completer.complete("file:///a.py", TEXT, len(TEXT), "python") == []
            sent = len(server.completions())
            for i in range(5):  # keystrokes during the pause: nothing is sent to the drowning server
                text = TEXT + "v" * (i + 1)
                assert await completer.complete("file:///a.py", text, len(text), "python") == []
            assert len(server.completions()) == sent == 1
            assert len(set(errors)) == 1 and "overloaded (HTTP 429/503)" in errors[0]  # one message, shown once
            now[0] += 0.9
            assert await completer.complete("file:///a.py", TEXT, len(TEXT), "python") == []  # still paused
            now[0] += 0.2
            assert await completer.complete("file:///a.py", TEXT, len(TEXT), "python")  # the pause is over
            assert len(server.completions()) == 2
        finally:
            completer.close()


def test_overload_without_retry_after_backs_off_exponentially():
    now = [0.0]
    with StandIn() as server:
        engine = engine_for(server.api_base, clock=lambda: now[0])
        try:
            server.script.overloads = [(503, None), (503, None)]
            request = GenerationRequest(prompt="a", max_new_tokens=3)
            with pytest.raises(ServerBusy) as first:
                engine.generate(request, CancelToken())
            assert first.value.retry_after == 1.0
            with pytest.raises(ServerBusy):  # within the pause: refused here, not sent
                engine.generate(request, CancelToken())
            assert len(server.completions()) == 1
            now[0] += 1.05
            with pytest.raises(ServerBusy) as second:
                engine.generate(request, CancelToken())
            assert second.value.retry_after == 2.0
            now[0] += 1.9
            with pytest.raises(ServerBusy):  # 2 s this time
                engine.generate(request, CancelToken())
            now[0] += 0.15
            assert engine.generate(request, CancelToken()).text
            assert engine.backoff.failures == 0
        finally:
            engine.close()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def lsp(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.slow
async def test_lsp_overload_is_one_message_however_many_keystrokes(lsp: LanguageClient):
    with StandIn() as server:
        await lsp.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                initialization_options={"apiBase": server.api_base, "maxNewTokens": 4, "cacheEntries": 0},
            )
        )
        uri = "file:///work/busy.py"
        open_document(lsp, uri, TEXT)
        deadline = time.monotonic() + 30
        while (await stats(lsp))["state"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        server.script.overloads = [(429, 30)]
        for _ in range(6):
            assert not (await inline(lsp, uri, 3, 17)).items
        errors = [m.message for m in lsp.messages if m.type == types.MessageType.Error]
        assert len(errors) == 1 and "overloaded" in errors[0], errors
        assert len(server.completions()) == 1


# -- https with a private CA; proxies from the environment ------------------------------------------------------
@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


def test_https_needs_the_company_ca_and_says_which_setting_takes_it(certificates):
    ca, cert, key = certificates
    with StandIn(tls=server_tls(cert, key)) as server:
        with pytest.raises(EngineError, match=r"not trusted .*codegenLsp\.caBundle"):
            engine_for(server.api_base, api_model="standin")
        engine = engine_for(server.api_base, ca_bundle=str(ca))
        try:
            assert engine.generate(GenerationRequest(prompt="z", max_new_tokens=3), CancelToken()).text
        finally:
            engine.close()
    with pytest.raises(EngineError, match="cannot read the CA bundle"):
        engine_for("https://127.0.0.1:9/v1", ca_bundle=str(ca.parent / "missing.pem"))


def test_proxy_from_the_environment_is_used(monkeypatch):
    """HTTP_PROXY as httpx reads it: a server name only the proxy can reach still answers."""
    with StandIn() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        engine = engine_for("http://codegen-team.invalid/v1")
        try:
            assert engine.generate(GenerationRequest(prompt="p", max_new_tokens=3), CancelToken()).text
        finally:
            engine.close()
        assert proxy.seen and all(s.proxied for s in proxy.seen)


# -- the real llama-server: several editors, one server ----------------------------------------------------------
@pytest.mark.slow
async def test_llama_server_editors_keep_their_own_slot_caches(tiny_gguf, tmp_path):
    """Two editors type in turn against a 2-slot server: each editor's prompt start stays put and the server
    puts each editor back on the slot holding its prefix, so nearly every prompt token of a keystroke comes
    from the server's cache; and nothing pins them to one slot (id_slot 0 would queue one behind the other)."""
    server = start_llama_server(tiny_gguf, tmp_path, 8192, extra=["--parallel", "2"])
    completers = [Completer(Settings(api_base=server.api_base, max_new_tokens=4, cache_entries=0, typed_through=False))
                  for _ in range(2)]  # fmt: skip
    files = [
        "".join(f"def handler_{i}(request):\n    return request.value + {i}\n\n" for i in range(40)),
        "".join(f"class Model{i}:\n    name = 'model {i}'\n\n" for i in range(40)),
    ]
    try:
        for completer in completers:
            assert await completer.load(NO_PROGRESS)
        assert completers[0].engine.max_choices == 2
        reused, prefilled = 0, 0
        for key in range(12):
            for completer, text in zip(completers, files):
                typed = text + "x" * key
                await completer.complete(f"file:///{id(text)}.py", typed, len(typed), "python")
                if key >= 1:  # after each editor's first (cold) request
                    last = completer.stats.snapshot()["last"]
                    reused += last["reused"]
                    prefilled += last["prefilled"]
        assert reused > 10 * prefilled, (reused, prefilled)
        # Both editors generate at once: without pinning, the server runs them on its two slots side by side.
        busy = busy_while(server, [(c.engine, t) for c, t in zip(completers, files)])
        assert max(busy) == 2, busy
    finally:
        for completer in completers:
            completer.close()
        server.stop()


def busy_while(server, jobs, limit: float = 20.0) -> list[int]:
    """Busy slots (llama-server's /slots), sampled while each engine generates a long completion on a thread,
    until both were seen busy at once (or `limit` seconds); then the generations are cancelled."""
    import threading

    import httpx

    cancels = [CancelToken() for _ in jobs]
    threads = [
        threading.Thread(target=lambda e=engine, p=prompt, c=cancel: e.generate(GenerationRequest(prompt=p, max_new_tokens=3000), c))
        for (engine, prompt), cancel in zip(jobs, cancels)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    samples, deadline = [], time.monotonic() + limit
    while any(thread.is_alive() for thread in threads) and time.monotonic() < deadline:
        slots = httpx.get(f"{server.root}/slots", timeout=10).json()
        samples.append(sum(1 for slot in slots if slot.get("is_processing")))
        if samples[-1] == len(jobs):
            break
        time.sleep(0.02)
    for cancel in cancels:
        cancel.cancel()
    for thread in threads:
        thread.join()
    return samples


@pytest.mark.slow
def test_llama_server_gives_alternatives_from_one_request(tiny_gguf, tmp_path):
    server = start_llama_server(tiny_gguf, tmp_path, 4096, extra=["--parallel", "3"])
    try:
        engine = engine_for(server.api_base)
        sampled = [GenerationRequest(prompt="def main():\n    ", max_new_tokens=8, temperature=1.5, seed=s) for s in (1, 2, 3)]
        results = engine.generate_many(sampled, CancelToken())
        assert len(results) == 3 and all(r.text for r in results)
        assert len({r.text for r in results}) > 1  # sampled choices, not one text three times
        engine.close()
    finally:
        server.stop()
