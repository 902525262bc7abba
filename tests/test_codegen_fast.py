"""The fast CodeGen engine computes what transformers computes: logits, greedy tokens, prefix reuse,
seeded sampling, and the same completion through the CLI. CPU only (the GPU path runs the same
static decode step, here eagerly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codegen_lsp.engines.base import CancelToken, EngineError, GenerationRequest
from codegen_lsp.engines.config import FastConfig, TransformersConfig
from codegen_lsp.engines.local.codegen.engine import FastCodeGenEngine
from codegen_lsp.engines.local.codegen.checkpoint import qkv_row_order
from codegen_lsp.engines.local.codegen.model import StaticCodeGen, bucket_length
from codegen_lsp.engines.local.codegen.weights import weights_from_hf
from codegen_lsp.engines.local.transformers_engine import TransformersEngine

ROOT = Path(__file__).resolve().parents[1]

# (n_layer, n_embd, n_head, rotary_dim): rotary on part of the head, and on all of it, 3 heads per shard.
SHAPES = [(2, 64, 4, 8), (3, 96, 12, 8)]
VOCAB = 300
WINDOW = 160


def hf_codegen(n_layer, n_embd, n_head, rotary_dim, seed=0):
    from transformers import CodeGenConfig, CodeGenForCausalLM

    torch.manual_seed(seed)
    config = CodeGenConfig(
        vocab_size=VOCAB, n_positions=WINDOW, n_ctx=WINDOW, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
        rotary_dim=rotary_dim, initializer_range=0.2, bos_token_id=0, eos_token_id=0,
    )
    return CodeGenForCausalLM(config).eval()


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: "L{}-E{}-H{}-R{}".format(*s))
def pair(request):
    """A transformers model and the fast model built from a copy of its weights."""
    reference = hf_codegen(*request.param)
    copy = hf_codegen(*request.param)
    copy.load_state_dict(reference.state_dict())
    return reference, weights_from_hf(copy, "cpu", torch.float32)


@pytest.fixture(scope="module")
def first_pair():
    reference, copy = hf_codegen(*SHAPES[0]), hf_codegen(*SHAPES[0])
    copy.load_state_dict(reference.state_dict())
    return reference, weights_from_hf(copy, "cpu", torch.float32)


def random_ids(n, seed):
    return torch.randint(1, VOCAB, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1]


def hf_greedy(model, ids, n):
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(ids):].tolist()


def fast_greedy(model: StaticCodeGen, ids, n):
    logits, _ = model.prefill(ids)
    out = []
    for _ in range(n):
        out.append(int(torch.argmax(logits)))
        logits = model.step(out[-1])
    return out


STEP_MODES = {
    "eager": dict(),
    "static": dict(static_step=True, bucket=16),  # the code the CUDA graph captures
    "static-matmul": dict(static_step=True, bucket=16, decode_attention="matmul"),
}


def test_prefill_logits_match_transformers(pair):
    reference, weights = pair
    ids = random_ids(57, seed=1)
    logits, reused = StaticCodeGen(weights).prefill(ids)
    assert reused == 0
    torch.testing.assert_close(logits, hf_logits(reference, ids), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", STEP_MODES)
def test_decode_steps_match_transformers_logits_and_greedy_tokens(pair, mode):
    reference, weights = pair
    ids = random_ids(40, seed=2)
    model = StaticCodeGen(weights, **STEP_MODES[mode])
    tokens = fast_greedy(model, ids, 32)  # crosses attention buckets 48, 64, 80 in the static modes
    assert tokens == hf_greedy(reference, ids, 32)
    # Step logits equal a full forward of everything so far.
    fresh = StaticCodeGen(weights, **STEP_MODES[mode])
    fresh.prefill(ids)
    for token in tokens[:5]:
        ids = ids + [token]
        torch.testing.assert_close(fresh.step(token), hf_logits(reference, ids), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["eager", "static"])
def test_prefix_reuse_equals_computing_from_scratch(pair, mode):
    reference, weights = pair
    base = random_ids(60, seed=3)
    model = StaticCodeGen(weights, **STEP_MODES[mode])
    fast_greedy(model, base, 8)  # the cache now holds base and 7 generated tokens
    edits = {
        "append": (base + random_ids(9, seed=4), len(base)),
        "delete at the end": (base[:-5], len(base) - 6),  # at least one token runs to give logits
        "edit in the middle": (base[:30] + [7] + base[31:], 30),
        "same prompt again": (base[:30] + [7] + base[31:], 59),
        "unrelated": (random_ids(20, seed=5), None),
    }
    for name, (ids, expected_reuse) in edits.items():
        logits, reused = model.prefill(ids)
        if expected_reuse is not None:
            assert reused == expected_reuse, name
        torch.testing.assert_close(logits, hf_logits(reference, ids), rtol=1e-4, atol=1e-4, msg=name)
        scratch = StaticCodeGen(weights, reuse=False)
        assert fast_greedy(model, ids, 6)[1:] == fast_greedy(scratch, ids, 6)[1:], name
        model.prefill(ids)  # back to exactly ids in the cache for the next edit


def variant_of(model: StaticCodeGen) -> str:
    """The attention variant, and '+compiled' when the step runs the compiled layer functions."""
    return model.plan.attention + ("+compiled" if model.plan.compiled else "")


class FakeCapture:
    """Stands in for CUDA graph capture and its timing on a CPU, through StaticCodeGen's `record` and
    `timer` seams: a 'graph' re-runs the captured program into its fixed output tensors, as a replay would
    (with the plan it was captured with: the model's plan changes only by a new capture)."""

    def __init__(self, fail=(), step_ms=None, corrupt=()):
        self.fail, self.step_ms, self.captured, self.model = set(fail), step_ms or {}, [], None
        self.corrupt = set(corrupt)  # variants whose 'graph' computes wrong logits

    def build(self, weights, **options) -> StaticCodeGen:
        self.model = StaticCodeGen(weights, graphs=True, static_step=True, bucket=16, record=self.record,
                                   timer=self.timer, **options)
        return self.model

    def record(self, program, length, device=None):
        variant = variant_of(self.model)
        if variant in self.fail:
            raise RuntimeError(f"cannot capture {variant}")
        logits, greedy = program(length)
        self.captured.append((variant, length))
        wrong = 1.0 if variant in self.corrupt else 0.0

        class Graph:
            def replay(self):
                fresh_logits, fresh_greedy = program(length)
                logits.copy_(fresh_logits + wrong)
                greedy.copy_(fresh_greedy)

        return Graph(), (logits, greedy)

    def timer(self, graph, replays):
        graph.replay()
        return self.step_ms.get(variant_of(self.model), 1.0)


@pytest.mark.parametrize(
    "fail, step_ms, corrupt, chosen, graphs",
    [
        ((), {"sdpa": 2.0, "matmul": 1.0}, (), "matmul", True),
        ((), {"sdpa": 1.0, "matmul": 2.0}, (), "sdpa", True),
        ((), {"sdpa": 2.0, "matmul": 1.0}, ("matmul",), "sdpa", True),  # fast but wrong: not used
        (("sdpa",), {}, (), "matmul", True),
        (("sdpa", "matmul"), {}, (), "sdpa", False),
    ],
)
def test_graph_bookkeeping_auto_attention_and_fallback(first_pair, monkeypatch, fail, step_ms, corrupt, chosen, graphs):
    from codegen_lsp.engines.local.codegen import attention_kernel as decode_attention

    reference, weights = first_pair
    fake = FakeCapture(fail, step_ms, corrupt)
    model = fake.build(weights, decode_attention="auto", compile_step="off")
    monkeypatch.setattr(decode_attention, "available", lambda: False)  # no Triton on this CPU
    model.capture_all()  # at load: the plan chosen once, then every bucket captured, cache forgotten
    assert (model.plan.attention, model.plan.graphs) == (chosen, graphs)
    assert model.ids == []
    buckets = list(range(16, WINDOW + 1, 16))
    assert model.step_graphs.lengths() == (buckets if graphs else [])
    if graphs:
        assert {variant for variant, _ in fake.captured[-len(buckets):]} == {chosen}
    fake.captured.clear()
    ids = random_ids(40, seed=2)
    assert fast_greedy(model, ids, 32) == hf_greedy(reference, ids, 32)  # replays only: nothing chosen per step
    assert fake.captured == [] and model.plan.attention == chosen


def layer_functions_standing_in_for_compiled(calls: list):
    """What compiled_layer_functions returns, minus the compile: the eager pair, counting their calls."""
    from codegen_lsp.engines.local.codegen import model as codegen_static

    def before(*args):
        calls.append("before")
        return codegen_static.attention_inputs(*args)

    def after(*args):
        calls.append("after")
        return codegen_static.mixed_input(*args)

    return lambda: (before, after)


@pytest.mark.parametrize(
    "fail, step_ms, corrupt, compiled",
    [
        ((), {"sdpa": 2.0, "sdpa+compiled": 1.0}, (), True),
        ((), {"sdpa": 1.0, "sdpa+compiled": 2.0}, (), False),  # slower: eager kept
        ((), {"sdpa": 2.0, "sdpa+compiled": 1.0}, ("sdpa+compiled",), False),  # fast but wrong: not used
        (("sdpa+compiled",), {"sdpa": 2.0, "sdpa+compiled": 1.0}, (), False),  # compile/capture fails
    ],
)
def test_auto_compile_step_keeps_the_faster_agreeing_step(first_pair, fail, step_ms, corrupt, compiled):
    reference, weights = first_pair
    cpu = StaticCodeGen(weights, static_step=True, bucket=16, decode_attention="sdpa")
    assert cpu.plan.compiled is False and cpu.plan.graphs is False  # no graphs (CPU): never compiled
    fake = FakeCapture(fail, step_ms, corrupt)
    calls = []
    model = fake.build(weights, decode_attention="sdpa", compile_step="auto",
                       layer_functions=layer_functions_standing_in_for_compiled(calls))
    model.capture_all()
    assert (model.plan.compiled, model.plan.verify_compiled) == (compiled, compiled)
    assert set(model.timings.compile) == ({"eager"} if "sdpa+compiled" in fail else {"eager", "compiled"})
    if "sdpa+compiled" not in fail:
        assert model.timings.compile_agreement == pytest.approx(0.0, abs=1e-6) or corrupt
    assert {variant for variant, _ in fake.captured[2:]} == {variant_of(model)}  # every bucket, as chosen
    calls.clear()
    ids = random_ids(40, seed=2)
    assert fast_greedy(model, ids, 32) == hf_greedy(reference, ids, 32)
    assert bool(calls) == compiled  # the replays ran the (stand-in) compiled functions only when chosen


def test_compiled_capture_failure_falls_back_to_the_eager_step(first_pair):
    reference, weights = first_pair
    fake = FakeCapture(fail=("sdpa+compiled",))
    model = fake.build(weights, decode_attention="sdpa", compile_step="on",
                       layer_functions=layer_functions_standing_in_for_compiled([]))
    first = model.plan
    model.capture_all()  # at load: the compiled capture fails once, the next plan (eager) captures every bucket
    assert (model.plan.graphs, model.plan.compiled) == (True, False)
    assert (first.graphs, first.compiled) == (True, True)  # a new plan, not the old one changed
    ids = random_ids(40, seed=2)
    assert fast_greedy(model, ids, 32) == hf_greedy(reference, ids, 32)
    assert {variant for variant, _ in fake.captured} == {"sdpa"}


def test_compile_step_setting_is_checked(first_pair):
    with pytest.raises(ValueError, match="compile_step"):
        StaticCodeGen(first_pair[1], compile_step="yes")


@pytest.mark.slow
def test_compiled_step_matches_eager_and_compiles_once_for_all_layers(pair):
    """The real torch.compile (Inductor's CPU code here; CUDA gets Triton kernels from the same graph):
    same logits as the eager step, same greedy tokens as transformers, and no recompile from layer to
    layer or step to step (weights and cache views are arguments of identical shapes)."""
    import shutil

    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("Inductor's CPU backend needs a C++ compiler")
    import torch._dynamo

    reference, weights = pair
    ids = random_ids(40, seed=2)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        model = StaticCodeGen(weights, static_step=True, bucket=16, compile_step="on")
        assert fast_greedy(model, ids, 20) == hf_greedy(reference, ids, 20)
        eager = StaticCodeGen(weights, static_step=True, bucket=16)
        model.prefill(ids), eager.prefill(ids)
        for token in random_ids(5, seed=3):
            torch.testing.assert_close(model.step(token), eager.step(token), rtol=1e-4, atol=1e-4)
    torch._dynamo.reset()


SPLIT_KV_CHECK = """
import sys, torch
sys.path.insert(0, "tests")
from codegen_lsp.engines.local.codegen.attention_kernel import decode_attention
from codegen_lsp.engines.local.codegen.model import StaticCodeGen
from codegen_lsp.engines.local.codegen.weights import weights_from_hf
from test_codegen_fast import SHAPES, fast_greedy, hf_codegen, hf_greedy, random_ids

for heads, dim, window, position in [(4, 16, 300, 0), (3, 80, 512, 400), (2, 256, 256, 255)]:
    generator = torch.Generator().manual_seed(position)
    q = torch.randn(heads, dim, generator=generator) / dim**0.5
    cache = torch.randn(2, heads, window, dim, generator=generator)
    cache[:, :, position + 1 :] = float("nan")  # never filled: must not be read
    out = decode_attention(q, cache[0], cache[1], torch.tensor([position]))
    keys, values = cache[0, :, : position + 1], cache[1, :, : position + 1]
    expected = torch.einsum("hn,hnd->hd", torch.softmax(torch.einsum("hd,hnd->hn", q, keys), -1), values)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)

reference, copy = hf_codegen(*SHAPES[0]), hf_codegen(*SHAPES[0])
copy.load_state_dict(reference.state_dict())
model = StaticCodeGen(weights_from_hf(copy, "cpu", torch.float32), static_step=True, bucket=16, decode_attention="split")
ids = random_ids(124, seed=8)  # the steps cross the kernel's 128-position chunk boundary
assert fast_greedy(model, ids, 8) == hf_greedy(reference, ids, 8)
print("split-kv ok")
"""


@pytest.mark.slow
def test_split_kv_attention_kernel_matches_plain_attention_and_transformers():
    """The Triton kernel, run by Triton's CPU interpreter (which must be on before Triton is imported,
    hence a fresh process); skipped where Triton is not installed."""
    pytest.importorskip("triton")
    done = subprocess.run([sys.executable, "-c", SPLIT_KV_CHECK], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={**os.environ, "TRITON_INTERPRET": "1", "HF_HUB_OFFLINE": "1"})
    assert "split-kv ok" in done.stdout, done.stderr[-3000:]


def test_reuse_off_prefills_everything(pair):
    _, weights = pair
    model = StaticCodeGen(weights, reuse=False)
    ids = random_ids(30, seed=6)
    model.prefill(ids)
    assert model.prefill(ids + [5])[1] == 0


def test_full_window_is_a_clear_error_not_a_crash(pair):
    _, weights = pair
    model = StaticCodeGen(weights)
    model.prefill(random_ids(WINDOW, seed=7))
    with pytest.raises(ValueError, match="context window"):
        model.step(1)
    with pytest.raises(ValueError, match="exceeds the context window"):
        model.prefill(random_ids(WINDOW + 1, seed=7))
    with pytest.raises(ValueError, match="empty"):
        model.prefill([])


def test_qkv_row_order_is_a_permutation_that_keeps_each_shards_q_first():
    order = qkv_row_order(64)
    assert sorted(order.tolist()) == list(range(3 * 64))
    assert order[:16].tolist() == list(range(16))  # shard 0's q
    assert order[64:80].tolist() == list(range(32, 48))  # shard 0's k comes after its v


def test_bucket_length_covers_the_filled_positions():
    assert bucket_length(1, 256, 2048) == 256
    assert bucket_length(256, 256, 2048) == 256
    assert bucket_length(257, 256, 2048) == 512
    assert bucket_length(2000, 256, 2000) == 2000


# -- the engine, through LocalEngine's decode loop ---------------------------------------------------

PROMPT = "import os\n\n\ndef list_files(root):\n    result = []\n    for name in os.listdir(root):\n        "


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    fast = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu"))
    reference = TransformersEngine(TransformersConfig(model=str(tiny_model_dir), device="cpu"))
    for engine in (fast, reference):
        engine.load(lambda message, pct: None)
    return fast, reference


def generate(engine, **request):
    return engine.generate(GenerationRequest(**{"prompt": PROMPT, "max_new_tokens": 32, **request}), CancelToken())


def test_engine_writes_the_same_text_as_transformers(engines):
    fast, reference = engines
    assert fast.context_window == reference.context_window
    for prompt in (PROMPT, PROMPT + "if name.endswith('.py'):\n            result.append(", "x"):
        a, b = generate(fast, prompt=prompt), generate(reference, prompt=prompt)
        assert a.text == b.text and a.finish_reason == b.finish_reason, prompt
        assert a.generated_tokens > 0


def test_engine_on_the_graph_code_path_writes_the_same_text(engines):
    """The static step (what CUDA captures) with its on-device argmax read by the shared loop."""
    fast, reference = engines
    eager = fast.model
    fast.model = StaticCodeGen(eager.w, static_step=True, bucket=32)
    try:
        for prompt in (PROMPT, PROMPT + "if name.endswith('.py'):\n            result.append("):
            assert generate(fast, prompt=prompt).text == generate(reference, prompt=prompt).text
        assert fast.model.greedy_token is not None  # the loop had a device argmax to read
    finally:
        fast.model = eager


def test_sampling_is_deterministic_with_a_seed(engines):
    fast, reference = engines
    sampled = dict(temperature=0.9, top_p=0.95, seed=11)
    first, again = generate(fast, **sampled), generate(fast, **sampled)
    assert first.text == again.text
    assert first.text == generate(reference, **sampled).text
    other_seeds = {generate(fast, temperature=0.9, top_p=0.95, seed=s).text for s in range(4)}
    assert len(other_seeds) > 1  # the seed matters: this is sampling, not greedy in disguise


def test_engine_reuses_the_cached_prompt_while_typing(engines):
    fast, _ = engines
    generate(fast)
    typed = generate(fast, prompt=PROMPT + "if not name")
    assert typed.reused_tokens >= typed.prompt_tokens - 6


def test_cancellation_stops_between_steps(engines):
    fast, _ = engines
    cancel = CancelToken()
    steps = []

    def stop_after_three(text):
        steps.append(text)
        if len(steps) == 3:
            cancel.cancel("newer request")
        return False

    result = fast.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=64), cancel, stop_after_three)
    assert result.finish_reason == "cancelled"
    assert result.generated_tokens <= 4


def test_non_codegen_checkpoint_is_refused_with_a_clear_error(tmp_path, tiny_model_dir):
    from transformers import GPT2Config

    for name in os.listdir(tiny_model_dir):
        if name.startswith("tokenizer") or name == "special_tokens_map.json":
            (tmp_path / name).write_bytes((tiny_model_dir / name).read_bytes())
    GPT2Config(n_layer=1, n_embd=32, n_head=2).save_pretrained(tmp_path)
    engine = FastCodeGenEngine(FastConfig(model=str(tmp_path), device="cpu"))
    with pytest.raises(EngineError, match="CodeGen checkpoints only"):
        engine.load(lambda message, pct: None)


def test_bad_compile_step_variable_is_a_clear_load_error(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("CODEGEN_LSP_COMPILE_STEP", "sometimes")
    engine = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu"))
    with pytest.raises(EngineError, match="CODEGEN_LSP_COMPILE_STEP must be one of auto, on, off"):
        engine.load(lambda message, pct: None)


# -- end to end ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_model(tiny_model_dir):
    from conftest import SHARED_MODEL

    return SHARED_MODEL if (SHARED_MODEL / "config.json").is_file() else tiny_model_dir


@pytest.mark.slow
def test_cli_complete_prints_the_same_text_with_both_engines(tmp_path, cli_model):
    source = tmp_path / "walk.py"
    source.write_text("import os\n\n\ndef python_files(root):\n    \"\"\"Every .py file under root.\"\"\"\n    \n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    outputs = {}
    for engine in ("fast", "transformers"):
        done = subprocess.run(
            [sys.executable, "-m", "codegen_lsp", "complete", str(source), "--line", "5", "--character", "4",
             "--engine", engine, "--model", str(cli_model), "--device", "cpu", "--max-new-tokens", "48"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[engine] = done.stdout
    assert outputs["fast"] == outputs["transformers"]
    assert outputs["fast"].strip()


@pytest.mark.slow
def test_engine_benchmark_runs_on_cpu(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/engine.py", "--device", "cpu", "--shapes", "tiny", "--prompt", "24",
         "--new", "3", "--extend", "2", "--steps", "2", "--reps", "1", "--check", "--static-step", "--isolate", "--attention", "sdpa,matmul",
         "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| tiny |" in done.stdout and "fast (sdpa: sdpa, eager; load" in done.stdout and "transformers" in done.stdout
    assert "greedy_agree 32" in done.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["engine"].split(";")[0] for r in rows] == ["transformers", "fast (sdpa: sdpa, eager", "fast (matmul: matmul, eager"]
    assert [r.get("step_compiled") for r in rows] == [None, False, False]  # CPU: auto never compiles
    assert all(0 < r["read_floor_ms"] < r["floor_ms"] for r in rows[1:])  # tiny: the embedding table dominates
    assert all(r["step_ms"] > 0 and "error" not in r for r in rows)
    assert all(r["verify5_ms"] > 0 and r["verify9_ms"] > 0 for r in rows[1:]) and "| verify 5 / step |" in done.stdout
    assert all(r["reused"] == 128 and r["reuse_rel_err"] < 1e-4 for r in rows[1:])
