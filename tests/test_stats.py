"""The `codegen/stats` counters: a closed set (a misspelt counter fails where it is counted, instead of being
silently dropped), and `last` shows only what served the request."""

import pytest

from codegen_lsp.stats import Count, Outcome, Stats, Trace


def test_a_counter_that_does_not_exist_fails_where_it_is_counted():
    stats = Stats()
    stats.count(Count.CACHE_HITS)
    stats.count(Count.TOKENS_GENERATED, 5)
    with pytest.raises(ValueError):
        stats.count("cache_hit")  # a typo of cache_hits
    snapshot = stats.snapshot()
    assert snapshot["cache_hits"] == 1 and snapshot["tokens_generated"] == 5 and snapshot["requests"] == 0
    assert set(snapshot) >= {counter.value for counter in Count}


def test_last_holds_what_served_the_request_and_nothing_unset():
    stats = Stats()
    stats.finish_request(Trace(outcome=Outcome.TYPED_THROUGH), server_ms=2.5)
    assert stats.snapshot()["last"] == {"outcome": "typed_through", "server_ms": 2.5}
    stats.finish_request(Trace(outcome=Outcome.MODEL, snippets=1, snippet_tokens=40, generated=7), server_ms=9.0)
    last = stats.snapshot()["last"]
    assert last == {"outcome": "model", "snippets": 1, "snippet_tokens": 40, "generated": 7, "server_ms": 9.0}
