"""The prompt features through the real Completer with a tiny model: alternatives only when invoked,
snippets from other open documents in the prompt."""

from codegen_lsp.completion import Completer
from codegen_lsp.settings import parse_settings
from codegen_lsp.snippets import Neighbour

DOCUMENT = "def total_price(items):\n    result = 0\n    for item in items:\n        "
OTHER = Neighbour("/p/shop.py", "python", "def item_price(item):\n    return item.price * item.count\n")


async def run(model_dir, **kwargs):
    settings, _ = parse_settings({"model": str(model_dir), "device": "cpu", "maxNewTokens": 6, "candidates": 3})
    completer = Completer(settings)
    try:
        assert await completer.load(lambda message, pct: None)
        items = await completer.complete("file:///p/cart.py", DOCUMENT, len(DOCUMENT), "python", **kwargs)
        return items, completer.stats.snapshot()
    finally:
        completer.close()


async def test_invoked_asks_the_model_for_alternatives_and_deduplicates(tiny_model_dir):
    items, stats = await run(tiny_model_dir, invoked=True)
    assert stats["model_calls"] == 3
    assert len(items) == len(set(items)) <= 3


async def test_automatic_trigger_asks_once_and_uses_other_documents(tiny_model_dir):
    items, stats = await run(tiny_model_dir, neighbours=[OTHER])
    assert stats["model_calls"] == 1 and len(items) <= 1
    assert stats["last"]["snippets"] == 1
