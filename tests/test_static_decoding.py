"""The transformers engine's static plan (StaticCache, forward compiled per token-count bucket) on tiny random
Llama, Qwen2 and StarCoder2 models: the same greedy tokens as `model.generate`, after prefix reuse, after
speculation (prompt lookup and a draft model), across KV slots and a cancellation; no recompilation while
the user types; a compile failure falls back to the dynamic path.

The forward is compiled with torch.compile's "eager" backend: Dynamo traces, guards and recompiles exactly as
with Inductor (what these tests check), without Inductor's minutes of C++ compilation on a busy CPU.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch._dynamo.utils import counters

from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.config import TransformersConfig
from codegen_lsp.engines.local.cpu import CpuCores
from codegen_lsp.engines.local.static_model import StaticTokenModel
from codegen_lsp.engines.local.static_plan import PlanKind, StaticPlan, choose_plan
from codegen_lsp.engines.local.transformers_engine import HFTokenModel, TransformersEngine
from tiny_model import build_tiny_family_model

pytestmark = pytest.mark.slow

FAMILIES = ("llama", "qwen2", "starcoder2")
BASE = open(__file__.replace("test_static_decoding.py", "tiny_model.py")).read()[:1200]
# Prompts that end in a bracket: no token healing backs them off, so the engine's greedy text is
# `generate`'s on the same ids. Consecutive prompts share long prefixes, as keystrokes do.
PROMPTS = [BASE[:n] + "(" for n in range(700, 1200, 50)]


def dynamo_eager(forward, plan):
    return torch.compile(forward, backend="eager", dynamic=False)


def load(model_dir, seams=None, **config):
    engine = TransformersEngine(
        TransformersConfig(model=str(model_dir), device="cpu", **{"decode_plan": "static", "kv_cache_slots": 2, **config}),
        compiler=dynamo_eager, prefill_buckets=(16,), **(seams or {}),
    )
    engine.load(lambda message, pct: None)
    return engine


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """family -> (engine on the static plan, the transformers model it loaded). The StarCoder2 engine drafts
    with a second StarCoder2 model (another seed, same tokenizer); the others by prompt lookup.
    Every checkpoint is built before any engine compiles: the compiled forward guards on transformers' registry
    of model classes seen so far, which a server (one model family) fills before it compiles, and a new class
    after the compile would recompile every graph."""
    # StarCoder2 with a sliding window, as its checkpoints have (4,096 there; longer than any prompt here).
    window = {"starcoder2": {"sliding_window": 512}}
    directories = {f: build_tiny_family_model(tmp_path_factory.mktemp(f), f, **window.get(f, {})) for f in FAMILIES}
    draft = build_tiny_family_model(tmp_path_factory.mktemp("draft"), "starcoder2", seed=1, **window["starcoder2"])
    built = {}
    for family, directory in directories.items():
        engine = load(directory, **({"draft_model": str(draft)} if family == "starcoder2" else {}))
        built[family] = (engine, engine.model.model)
    return built


def generate_reference(engine, model, prompt: str, max_new_tokens: int) -> str:
    """transformers' own greedy decoding of the prompt's tokens, up to the end-of-text token."""
    ids = engine.encode(prompt)
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)[0, len(ids):].tolist()
    if 0 in out:
        out = out[: out.index(0)]
    return engine.decode(out)


def complete(engine, prompt: str, max_new_tokens: int = 16, draft_tokens: int = 0, cancel=None, should_stop=None, suffix=""):
    request = GenerationRequest(prompt=prompt, max_new_tokens=max_new_tokens, draft_tokens=draft_tokens, suffix=suffix)
    return engine.generate(request, cancel or CancelToken(), should_stop)


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_text_is_generates_with_prefix_reuse_and_speculation(models, family):
    engine, model = models[family]
    assert isinstance(engine.model, StaticTokenModel) and engine.runtime["plan"] == "static+compile(default)"
    assert engine.runtime["compile_seconds"] > 0  # what codegen/stats and the check command show
    reused = accepted = 0
    for prompt in PROMPTS:
        expected = generate_reference(engine, model, prompt, 16)
        # Prompt lookup drafts from the text after the cursor too: there it finds the text to come, so
        # verifications run and accept (a random model's own output seldom repeats).
        for draft_tokens, suffix in ((0, ""), (4, prompt[-40:] + expected)):
            result = complete(engine, prompt, draft_tokens=draft_tokens, suffix=suffix)
            assert result.text == expected, (family, len(prompt), draft_tokens)
            reused += result.reused_tokens
            accepted += result.accepted_tokens
            assert result.drafted_tokens > 0 or not draft_tokens
    assert reused > 0.9 * sum(len(engine.encode(p)) for p in PROMPTS)  # the second run of each prompt, at least
    assert accepted > 0 or engine.drafter is not None  # a random draft model agrees with nothing


def test_no_recompilation_across_fifty_keystrokes_with_reuse_speculation_and_slot_switches(models):
    engine, model = models["llama"]
    graphs = counters["stats"]["unique_graphs"]
    document = BASE[:900]
    other = "import os\n\nclass Thing:\n    def __init__(self):\n        self.items = ["
    for i, char in enumerate("    value = compute(first, second) + other(third)"[:50].ljust(50, "x")):
        document += char
        result = complete(engine, document, max_new_tokens=6, draft_tokens=4 if i % 2 else 0)
        if i % 10 == 0:
            assert result.reused_tokens >= len(engine.encode(document)) - 6 or i == 0  # swapped back in
            complete(engine, other, max_new_tokens=6)  # another document takes the second slot
    assert counters["stats"]["unique_graphs"] == graphs


def test_compiled_graphs_keep_the_thread_count_of_the_load_as_other_programs_come_and_go(models):
    """torch.compile guards on torch's thread count: following the free cores would compile every graph again
    (seconds) in the middle of typing, the first time another program takes a core."""
    before = torch.get_num_threads()
    busy = iter([0.0, 1.9, 0.0, 1.9])  # other programs' busy CPUs per interval, as OtherLoad reports them
    engine = load(models["llama"][1].name_or_path, {
        "cpu_cores": lambda: CpuCores(logical=2, physical=2, cpus=(0, 1)),
        "other_load": lambda cpus: SimpleNamespace(since_last=lambda: next(busy)),
    })
    try:
        graphs = counters["stats"]["unique_graphs"]
        threads = torch.get_num_threads()
        for _ in range(4):
            complete(engine, BASE[:800], max_new_tokens=4)
            assert torch.get_num_threads() == threads
        assert counters["stats"]["unique_graphs"] == graphs
        assert engine.runtime["threads_from"] == "free cores at load (compiled graphs)"
    finally:
        torch.set_num_threads(before)


def test_slots_keep_two_documents_and_their_text_is_generates(models):
    engine, model = models["qwen2"]
    first, second = BASE[:1000] + "(", "import os\n\nclass Thing:\n    def __init__(self):\n        self.items = ["
    for _ in range(2):
        for prompt in (first, second):
            assert complete(engine, prompt).text == generate_reference(engine, model, prompt, 16)
    back = complete(engine, first)
    assert back.reused_tokens == back.prompt_tokens - 1  # swapped back in whole: only the last token runs


def test_healing_and_cancellation_match_the_dynamic_path(models, tmp_path):
    engine, model = models["llama"]
    dynamic = TransformersEngine(TransformersConfig(model=engine.config.model, device="cpu", decode_plan="dynamic"))
    dynamic.load(lambda message, pct: None)
    assert isinstance(dynamic.model, HFTokenModel) and dynamic.runtime["plan"] == "dynamic"
    for prompt in (BASE[:1000] + "    val", BASE[:1000] + "\n    ", BASE[:800]):  # backed off and healed
        assert complete(engine, prompt).text == complete(dynamic, prompt).text
    cancel = CancelToken()
    stopped = complete(engine, PROMPTS[3], cancel=cancel, should_stop=lambda text: cancel.cancel() or False)
    assert stopped.finish_reason == "cancelled" and stopped.generated_tokens == 1
    assert complete(engine, PROMPTS[3]).text == generate_reference(engine, model, PROMPTS[3], 16)


def test_a_failed_compile_falls_back_to_the_dynamic_path(models, caplog):
    def broken(forward, plan):
        def compiled(*args):
            raise RuntimeError("no C++ compiler found")
        return compiled

    engine, model = models["llama"]
    fallback = TransformersEngine(TransformersConfig(model=engine.config.model, device="cpu", decode_plan="static"), compiler=broken)
    fallback.load(lambda message, pct: None)
    assert isinstance(fallback.model, HFTokenModel)
    assert fallback.runtime["plan"] == "dynamic" and fallback.runtime["plan_fallback"] == "RuntimeError"
    assert sum("decoding eagerly with a dynamic cache" in r.message for r in caplog.records) == 1
    assert complete(fallback, PROMPTS[0]).text == generate_reference(engine, model, PROMPTS[0], 16)


def test_the_plan_is_static_on_cuda_and_dynamic_on_a_cpu_unless_asked():
    assert choose_plan("auto", "cuda:0", 4) == StaticPlan(PlanKind.STATIC, "reduce-overhead", verify_width=5)
    assert choose_plan("auto", "cpu").kind is PlanKind.DYNAMIC
    assert choose_plan("static", "cpu").compile_mode == "default"
    assert choose_plan("auto", "cuda", spread=True).kind is PlanKind.DYNAMIC  # one static cache needs one device
    assert choose_plan("static", "cuda", 0).buckets() == (1, 16, 64, 256)
    with pytest.raises(ValueError):
        choose_plan("fast", "cpu")
