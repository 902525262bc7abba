"""Issue 6 through the real server over stdio: alternatives only for an explicit (Invoked) request, snippets
from the other open documents, and code after the cursor respected."""

from __future__ import annotations

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import SERVER_COMMAND, inline, open_document, start, stats

URI = "file:///work/cart.py"
OTHER = "file:///work/shop.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.slow
async def test_invoked_offers_alternatives_automatic_offers_one(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=6, candidates=3)
    open_document(client, OTHER, "def item_price(item):\n    return item.price * item.count\n")
    open_document(client, URI, "def total_price(items):\n    total = 0\n    for item in items:\n        total = ")
    automatic = await inline(client, URI, 3, 16)
    assert len(automatic.items) == 1
    s = await stats(client)
    assert s["model_calls"] == 1 and s["last"]["snippets"] == 1  # shop.py shares `item`, `price` with the cursor's lines
    invoked = await inline(client, URI, 3, 16, invoked=True)
    texts = [item.insert_text for item in invoked.items]
    assert 1 < len(texts) <= 3 and len(set(texts)) == len(texts)
    assert texts[0] == automatic.items[0].insert_text  # the greedy answer stays first
    assert (await stats(client))["model_calls"] == 1 + 2  # the greedy answer came from the cache


@pytest.mark.slow
async def test_code_after_the_cursor_is_not_repeated_or_overrun(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    open_document(client, URI, "result = compute(, limit)\n")
    answer = await inline(client, URI, 0, 17)
    for item in answer.items:
        assert "\n" not in item.insert_text and ")" not in item.insert_text
