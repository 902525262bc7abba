"""The completion cache (by key) and typed-through lookups."""

from codegen_lsp.cache import CacheKey, CompletionCache, TypedThrough
from codegen_lsp.postprocess import Completion


def test_cache_returns_what_was_put_under_the_same_key_only():
    cache = CompletionCache(entries=4, ttl_seconds=60)
    cache.put(("model", 64, "prompt"), ["x = 1"])
    assert cache.get(("model", 64, "prompt")) == ["x = 1"]
    assert cache.get(("model", 32, "prompt")) is None
    assert cache.get(("other", 64, "prompt")) is None


def test_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = CompletionCache(entries=2, ttl_seconds=60)
    cache.put(("a",), ["1"])
    cache.put(("b",), ["2"])
    cache.get(("a",))
    cache.put(("c",), ["3"])
    assert cache.get(("b",)) is None and cache.get(("a",)) == ["1"] and len(cache) == 2


def test_cache_entries_expire():
    now = [100.0]
    cache = CompletionCache(entries=4, ttl_seconds=60, clock=lambda: now[0])
    cache.put(("a",), ["1"])
    now[0] += 59
    assert cache.get(("a",)) == ["1"]
    now[0] += 2
    assert cache.get(("a",)) is None


def test_a_cache_key_differs_by_each_thing_that_determines_the_completion():
    key = CacheKey("engine", 64, 0.0, 1.0, "line", "prompt", 3)
    cache = CompletionCache(entries=8, ttl_seconds=60)
    cache.put(key.with_candidates(1), ["greedy"])
    assert cache.get(CacheKey("engine", 64, 0.0, 1.0, "line", "prompt", 1)) == ["greedy"]
    assert cache.get(key) is None  # three candidates were never asked for
    assert cache.get(CacheKey("engine", 64, 0.0, 1.0, "block", "prompt", 1)) is None


def test_zero_entries_turns_the_cache_off():
    cache = CompletionCache(entries=0, ttl_seconds=60)
    cache.put(("a",), ["1"])
    assert cache.get(("a",)) is None


def test_typed_through_serves_the_rest_of_what_was_shown():
    shown = TypedThrough()
    shown.remember("file:///a.py", "x = com", ")\n", [Completion("pute(1, 2")])
    assert shown.lookup("file:///a.py", "x = compu", ")\n") == [Completion("te(1, 2")]


def test_typed_through_misses_when_the_user_typed_something_else_or_moved():
    shown = TypedThrough()
    shown.remember("file:///a.py", "x = com", "", [Completion("pute(1, 2)")])
    assert shown.lookup("file:///a.py", "x = comb", "") is None  # typed a different character
    assert shown.lookup("file:///a.py", "x = com", "") is None  # same place: the completion cache's job
    assert shown.lookup("file:///a.py", "x = compute(1, 2)", "") is None  # typed all of it: nothing left
    assert shown.lookup("file:///b.py", "x = compu", "") is None  # another document
    assert shown.lookup("file:///a.py", "x = compu", "# changed after the cursor") is None


def test_typed_through_keeps_replacing_the_closers_that_are_left():
    """`s = "¦";` showed `abc";` over `";`: typing `ab` leaves `c";` over `";`; an editor that typed over the
    closing quote when the user typed it leaves `;` over `;` (nothing left to show: the rest is only `;`)."""
    shown = TypedThrough()
    shown.remember("file:///a.js", 's = "', '";\n', [Completion('abc";', replace=2, insert_text="abc")])
    assert shown.lookup("file:///a.js", 's = "ab', '";\n') == [Completion('c";', replace=2, insert_text="c")]
    shown.remember("file:///a.js", "f(", ")\n", [Completion("a), b)", replace=1, insert_text="a")])
    # the user typed `a)` and the editor stepped over its own `)`: the rest replaces nothing more
    assert shown.lookup("file:///a.js", "f(a)", "\n") == [Completion(", b)")]
    assert shown.lookup("file:///a.js", "f(a", "]\n") is None  # the text after the cursor changed
