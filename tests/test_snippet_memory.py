"""Snippet windows are kept per document, not per version: a large neighbour edited between completions holds one
version's windows, and at most CACHED_DOCUMENTS documents are kept."""

from __future__ import annotations

import tracemalloc

from codegen_lsp.snippets import CACHED_DOCUMENTS, Neighbour, WindowCache, rank_snippets

LINES = [f"def handler_{i}(request, session):\n    return session.lookup(request.key_{i % 97})\n" for i in range(8000)]
BIG = "".join(LINES)  # about 0.7 MB of Python


def test_a_large_neighbour_edited_30_times_keeps_one_versions_windows():
    cache = WindowCache()
    tracemalloc.start()
    try:
        cache.windows("/work/big.py", BIG, 20)
        one_version, _ = tracemalloc.get_traced_memory()
        for edit in range(30):
            text = BIG[: 1000 * edit] + "x" + BIG[1000 * edit :]
            cache.windows("/work/big.py", text, 20)
        after_30, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) == 1
    assert after_30 < 2.5 * one_version  # one version's windows (and the edit's text), not thirty


def test_at_most_the_documents_bound_is_kept_and_ranking_still_finds_the_best_window():
    cache = WindowCache(documents=CACHED_DOCUMENTS)
    for i in range(CACHED_DOCUMENTS + 10):
        cache.windows(f"/work/f{i}.py", f"value_{i} = compute_{i}()\n", 20)
    assert len(cache) == CACHED_DOCUMENTS
    snippets = rank_snippets("session.lookup(request.key_5)\n", [Neighbour("/work/big.py", "python", BIG)], "python")
    assert snippets and "key_5" in snippets[0].text
