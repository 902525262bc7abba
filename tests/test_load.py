"""Load: over a thousand completion requests at more than 100 a second over 10 documents, with random
cancellations and edits, through the real server. Every request gets exactly one answer (a result or the
cancellation error), the model never runs two generations at once, and the documents stay intact.
The caches that hold memory are bounded by their settings (checked in process)."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from codegen_lsp.completion import Completer
from codegen_lsp.settings import parse_settings
from raw_lsp import RawServer, inline_params

REQUESTS = 1200
RATE = 150  # requests a second the driver aims for; it never waits when behind
DOCUMENTS = 10
CANCELLED = -32800


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_a_thousand_requests_each_get_exactly_one_answer(wordy_model_dir):
    rng = random.Random(7)
    raw = RawServer()
    try:
        raw.initialize({"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4})
        assert raw.wait_until_loaded()["state"] == "ready"
        uris = [f"file:///work/load_{n}.py" for n in range(DOCUMENTS)]
        texts = {uri: f"import os\n\ndef handler_{n}(request):\n    value = " for n, uri in enumerate(uris)}
        versions = dict.fromkeys(uris, 1)
        for uri in uris:
            raw.open(uri, texts[uri])
        rss_before = rss_kib(raw.proc.pid)
        sent: list[int] = []
        cancel_sent: set[int] = set()
        started = time.monotonic()
        for i in range(REQUESTS):
            lag = started + i / RATE - time.monotonic()
            if lag > 0:
                time.sleep(lag)
            uri = rng.choice(uris)
            if rng.random() < 0.3:  # the user typed: an incremental edit at the end of the document
                typed = rng.choice(["x", " ", "(", "a1", "\n    ", "😀"])
                lines = texts[uri].split("\n")
                end = {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}
                versions[uri] += 1
                raw.notify("textDocument/didChange", {
                    "textDocument": {"uri": uri, "version": versions[uri]},
                    "contentChanges": [{"range": {"start": end, "end": end}, "text": typed}],
                })
                texts[uri] += typed
            lines = texts[uri].split("\n")
            msg_id = raw.request(
                "textDocument/inlineCompletion",
                inline_params(uri, len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2),
            )
            sent.append(msg_id)
            if rng.random() < 0.3:  # the editor gave up on a request, now or a little later
                target = rng.choice(sent[-5:])
                raw.notify("$/cancelRequest", {"id": target})
                cancel_sent.add(target)
        rate = REQUESTS / (time.monotonic() - started)
        print(f"\nsent {REQUESTS} requests at {rate:.0f}/s, {len(cancel_sent)} cancellations")
        assert rate >= 100

        last = raw.call("codegen/stats", timeout=120)  # answered after everything sent before it
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not set(sent) <= {m.get("id") for m in raw.seen if "method" not in m}:
            time.sleep(0.1)
        answers = Counter(m["id"] for m in list(raw.seen) if "method" not in m and m.get("id") in set(sent))
        assert set(answers) == set(sent), f"{len(set(sent) - set(answers))} requests never answered"
        assert max(answers.values()) == 1, "a request was answered twice"
        outcomes = Counter()
        for m in raw.seen:
            if m.get("id") in answers:
                if "error" in m:
                    assert m["error"]["code"] == CANCELLED and m["id"] in cancel_sent, m
                    outcomes["cancelled"] += 1
                else:
                    outcomes["with items" if m["result"]["items"] else "empty"] += 1
        stats = raw.call("codegen/stats")["result"]
        print(f"outcomes {dict(outcomes)}; model calls {stats['model_calls']}, superseded {stats['superseded']}, "
              f"max running {stats['max_running']}, in flight after {stats['in_flight']}; RSS {rss_before} -> {rss_kib(raw.proc.pid)} KiB")
        assert "result" in last
        assert stats["max_running"] == 1 and stats["model_calls"] > 0
        assert stats["in_flight"] == 0  # nothing left behind per request or per edit (pygls kept one per edit)
        assert outcomes["with items"] > 0
        for uri in uris:  # edits interleaved with cancellations left every document intact
            assert raw.call("codegen/documentText", {"uri": uri})["result"]["text"] == texts[uri]
    finally:
        assert raw.close() == 0


async def complete_many(completer: Completer, count: int) -> None:
    for n in range(count):
        text = f"# file {n}\n" + "".join(f"item_{n}_{k} = {k}\n" for k in range(n % 7)) + f"value_{n} = "
        await completer.complete(f"file:///work/m{n % 13}.py", text, len(text), "python")


@pytest.mark.parametrize("entries, slots", [(8, 2), (0, 0), (3, 1)])
async def test_caches_never_hold_more_than_their_settings_allow(wordy_model_dir, entries, slots):
    settings, errors = parse_settings(
        {"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 3, "cacheEntries": entries,
         "kvCacheSlots": slots, "engine": "transformers"}  # the engine that keeps a list of KV slots
    )
    assert not errors
    completer = Completer(settings)
    try:
        assert await completer.load(lambda message, pct: None)
        await complete_many(completer, 40)
        assert completer.stats.snapshot()["model_calls"] >= 20
        assert len(completer.cache) <= entries
        assert len(completer.engine.model.slots) <= max(slots, 1)
        assert len(completer.typed_through._shown) <= completer.typed_through._shown.maxsize
    finally:
        completer.close()
