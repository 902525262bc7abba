"""Keystroke latency features end to end: typed-through answers and per-request stats."""

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import SERVER_COMMAND, complete_in_process, edit, inline, open_document, start, stats

URI = "file:///work/keys.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def type_start_of_completion(client, model, enabled: bool):
    await start(client, model, maxNewTokens=10, typedThrough=enabled)
    open_document(client, URI, "total = value + ")
    shown = (await inline(client, URI, 0, 16)).items[0].insert_text
    typed = shown[:2]
    edit(client, URI, 2, (0, 16), (0, 16), typed)
    after = await inline(client, URI, 0, 16 + len(typed))
    return shown, typed, after, await stats(client)


async def test_typing_the_shown_completion_is_answered_without_the_model(client: LanguageClient, wordy_model_dir):
    shown, typed, after, s = await type_start_of_completion(client, wordy_model_dir, enabled=True)
    assert after.items[0].insert_text == shown[len(typed):]
    assert s["model_calls"] == 1 and s["typed_through_hits"] == 1
    assert s["last"]["outcome"] == "typed_through"


async def test_without_typed_through_the_model_runs_again_and_reuses_its_cache(client: LanguageClient, wordy_model_dir):
    shown, typed, after, s = await type_start_of_completion(client, wordy_model_dir, enabled=False)
    assert s["model_calls"] == 2 and s["typed_through_hits"] == 0
    last = s["last"]
    assert last["outcome"] == "model" and last["reused"] > 0 and last["prefilled"] <= 3
    assert last["server_ms"] >= last["engine_ms"] > 0


async def test_speculative_decoding_shows_the_plain_greedy_text_and_counts_its_drafts(client: LanguageClient, tiny_model_dir):
    text = "import os\nimport sys\n\nfor name in os.listdir(path):\n    print(name)\nfor name in os.listdir("
    options = dict(maxNewTokens=48, mode="block")
    await start(client, tiny_model_dir, **options)  # draftTokens: 4 by default
    open_document(client, URI, text)
    shown = [item.insert_text for item in (await inline(client, URI, 5, 23)).items]
    assert shown == await complete_in_process(tiny_model_dir, URI, text, len(text), draftTokens=0, **options)
    s = await stats(client)
    assert s["tokens_drafted"] > s["tokens_accepted"] > 0
    assert s["last"]["passes"] + s["last"]["accepted"] >= s["last"]["generated"] - 1  # each pass: 1 + accepted
