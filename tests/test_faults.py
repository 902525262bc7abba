"""Faults: a model that cannot load, out of memory while generating, a tokenizer error, a post-processing bug.
Each is reported once (window/showMessage, and a log line with the detail on stderr), the request answers
empty, and the next request works. Faults are injected by tests/fault_server.py, keyed on marker text."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from raw_lsp import RawServer

FAULT_SERVER = [sys.executable, str(Path(__file__).with_name("fault_server.py")), "--stdio"]
PREFIX = "".join(f"def helper_{i}(value):\n    return value + {i}\n\n" for i in range(12))


def error_messages(raw: RawServer, containing: str) -> list[str]:
    return [
        m["params"]["message"]
        for m in list(raw.seen)
        if m.get("method") == "window/showMessage" and m["params"]["type"] == 1 and containing in m["params"]["message"]
    ]


def stats(raw: RawServer) -> dict:
    return raw.call("codegen/stats")["result"]


@pytest.fixture(scope="module")
def server(wordy_model_dir):
    raw = RawServer(FAULT_SERVER)
    raw.initialize({"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4, "typedThrough": False})
    assert raw.wait_until_loaded()["state"] == "ready"
    yield raw
    assert raw.close() == 0


def completes(raw: RawServer, uri: str, text: str) -> list:
    """Items at the end of `text`, in a document closed afterwards (open ones lend snippets to other prompts,
    which would carry a fault's marker into them)."""
    raw.open(uri, text)
    lines = text.split("\n")
    items = raw.inline(uri, len(lines) - 1, len(lines[-1]))["result"]["items"]
    raw.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return items


@pytest.mark.parametrize(
    "marker, shown, logged",
    [
        ("INJECT_OOM", "out of memory", "OutOfMemoryError"),
        ("INJECT_TOKENIZER", "tokenizer exploded", "RuntimeError: tokenizer exploded"),
        ("INJECT_POSTPROCESS", "post-processing bug", "IndexError: post-processing bug"),
    ],
)
def test_fault_is_reported_once_answers_empty_and_the_next_request_works(server, marker, shown, logged):
    before = stats(server)["errors"]
    for attempt in range(3):
        # Markers only in the text: prompts may name the file, and a marker there would fault every request.
        items = completes(server, f"file:///work/{shown[:3]}-{attempt}.py", f"# {marker}\nx = {attempt}\nvalue_{attempt} = ")
        assert items == []
    assert stats(server)["errors"] == before + 3
    # The server writes a request's showMessage before its answer, and the reader keeps the order: every message
    # sent before the codegen/stats answer above has been read.
    assert len(error_messages(server, shown)) == 1
    assert logged in server.stderr
    assert completes(server, f"file:///work/after-{shown[:3]}.py", "import os\nname = ")


def test_out_of_memory_frees_the_cached_model_state(server):
    """The OOM run filled a KV cache with PREFIX; after the fault nothing of it may be reused (it was freed)."""
    reused = stats(server)["tokens_reused"]
    SHARED = "file:///work/shared-prefix.py"  # one name: prompts may start with it, and must share PREFIX whole
    assert completes(server, SHARED, PREFIX + "# INJECT_OOM\nvalue = ") == []
    assert completes(server, SHARED, PREFIX + "value = ")
    assert stats(server)["tokens_reused"] == reused
    # Control: without a fault, the same shared prefix is reused, so the assertion above could fail.
    assert completes(server, SHARED, PREFIX + "other = ")
    assert stats(server)["tokens_reused"] > reused


# -- load failures ---------------------------------------------------------------------------------------------
def broken_models(good: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    corrupt = tmp / "corrupt-weights"
    shutil.copytree(good, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage, not a safetensors file" * 100)
    unknown = tmp / "unknown-architecture"
    shutil.copytree(good, unknown)
    config = json.loads((unknown / "config.json").read_text())
    config.update(model_type="no-such-architecture", architectures=["NoSuchArchitectureForCausalLM"])
    (unknown / "config.json").write_text(json.dumps(config))
    return {
        "missing": (tmp / "no-such-model", "no-such-model"),
        "corrupt": (corrupt, "corrupt-weights"),
        "unknown": (unknown, "unknown-architecture"),
    }


def configure(raw: RawServer, model: Path) -> None:
    raw.notify("workspace/didChangeConfiguration", {"settings": {"model": str(model), "device": "cpu", "maxNewTokens": 4}})


@pytest.mark.slow
def test_models_that_fail_to_load_are_reported_and_a_good_one_loads_after(wordy_model_dir, tmp_path):
    models = broken_models(wordy_model_dir, tmp_path)
    raw = RawServer()
    try:
        raw.initialize({"model": str(models["missing"][0]), "device": "cpu"})
        raw.open("file:///work/a.py", "x = ")
        for kind, (path, name) in models.items():
            if kind != "missing":
                configure(raw, path)
            raw.wait_for(lambda m: m.get("method") == "window/showMessage" and name in m["params"]["message"], 60)
            status = stats(raw)
            assert status["state"] == "failed" and name in status["error"], kind
            for _ in range(2):
                assert raw.inline("file:///work/a.py", 0, 4)["result"]["items"] == []
            assert len(error_messages(raw, name)) == 1, kind  # all read: they come before the answers above
            assert "model load failed" in raw.stderr and name in raw.stderr
        configure(raw, wordy_model_dir)
        deadline = time.monotonic() + 60
        while stats(raw)["state"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert raw.inline("file:///work/a.py", 0, 4)["result"]["items"]
    finally:
        assert raw.close() == 0
