"""Speculative decoding writes exactly what plain greedy decoding writes, in fewer model passes: prompt
lookup and a draft model, on the fast engine (eager and on the padded, captured code path) and on the
transformers engine; the decode loop's stops, budget and cancellation hold inside an accepted draft."""

from __future__ import annotations

import shutil
from array import array

import pytest
import torch

from codegen_lsp.engines.base import CancelToken, EngineError, GenerationRequest
from codegen_lsp.engines.config import FastConfig, TransformersConfig
from codegen_lsp.engines.local.codegen.engine import FastCodeGenEngine
from codegen_lsp.engines.local.codegen.model import StaticCodeGen
from codegen_lsp.engines.local.transformers_engine import TransformersEngine
from codegen_lsp.engines.decoding.speculation import PromptLookup, accepted_length
from helpers.token_models import ScriptedTokenModel
from tiny_model import build_tiny_model, build_tokenizer

# Code that repeats itself, as code does: prompt lookup finds something to copy.
PROMPTS = [
    "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n",
    "import os\nimport sys\n\nfor name in os.listdir(path):\n    print(name)\nfor name in os.listdir(",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n    def ",
    "x",
]


# -- prompt lookup ------------------------------------------------------------------------------------
def test_lookup_copies_what_followed_the_latest_occurrence_of_the_longest_ngram():
    lookup = PromptLookup()
    history = [1, 2, 3, 10, 11, 9, 2, 3, 20, 21, 22, 7, 2, 3]
    assert lookup.propose(history, 2) == [20, 21]  # latest earlier "2 3" (not the trailing one itself)
    history += [20, 21, 99, 5, 1, 2, 3]
    assert lookup.propose(history, 3) == [10, 11, 9]  # "1 2 3" beats the later "2 3"


def test_lookup_falls_back_to_the_text_after_the_cursor_and_proposes_nothing_without_a_match():
    lookup = PromptLookup(extra=[50, 4, 5, 60, 61, 62])
    assert lookup.propose([1, 2, 3, 4, 5], 4) == [60, 61, 62]
    assert PromptLookup().propose([1, 2, 3, 4, 5], 4) == []
    assert lookup.propose([1, 2, 3, 4, 5], 0) == []


def test_lookup_matches_whole_tokens_only():
    # Packed little-endian, "1 2" appears in the bytes of 0x01000000, 0x02000000, 0 — straddling tokens.
    history = [0x01000000, 0x02000000, 0, 77, 1, 2]
    assert array("i", [1, 2]).tobytes() in array("i", history[:4]).tobytes()
    assert PromptLookup().propose(history, 2) == []


def test_accepted_length_counts_the_agreeing_prefix():
    assert accepted_length([4, 5, 6], [4, 5, 9, 1]) == 2
    assert accepted_length([4, 5, 6], [3, 5, 6, 1]) == 0
    assert accepted_length([4, 5, 6], [4, 5, 6, 1]) == 3


# -- the decode loop with a scripted model ------------------------------------------------------------
class ScriptedVerifier(ScriptedTokenModel):
    """Greedy output is `script` whatever is fed; verify and truncate keep the count of tokens held."""

    def __init__(self, engine, script: str):
        self.order = engine.encode(script) + [0]
        self.size = len(engine.tokenizer)
        self.held = 0  # tokens fed after the prompt
        self.prompt = 0
        self.passes = 0
        self.on_pass = None

    def _logits(self, position):
        scores = torch.zeros(self.size)
        scores[self.order[min(position, len(self.order) - 1)]] = 10.0
        return scores

    def prefill(self, ids):
        self.prompt, self.held = len(ids), 0
        return self._logits(0), 0

    def step(self, token):
        return self.verify([token])[-1]

    def verify(self, tokens):
        self.passes += 1
        if self.on_pass:
            self.on_pass(self.passes)
        rows = [self._logits(self.held + i + 1) for i in range(len(tokens))]
        self.held += len(tokens)
        return torch.stack(rows)

    def truncate(self, length):
        self.held = min(self.held, length - self.prompt)

    def reset(self):
        pass


SCRIPT = "total = total + 1\ntotal = total + 1\ntotal = total + 1\ntotal = total + 1\n"


def speculate(engine, model, prompt=SCRIPT + "print(", cancel=None, should_stop=None, **request):
    engine.model = model
    request = GenerationRequest(prompt=prompt, **{"max_new_tokens": 64, "draft_tokens": 4, **request})
    return engine.generate(request, cancel or CancelToken(), should_stop)


def test_scripted_greedy_text_is_the_same_in_fewer_passes(tokenizer_engine):
    plain = speculate(tokenizer_engine, ScriptedVerifier(tokenizer_engine, SCRIPT), draft_tokens=0)
    model = ScriptedVerifier(tokenizer_engine, SCRIPT)
    fast = speculate(tokenizer_engine, model)
    assert fast.text == plain.text == SCRIPT
    assert fast.finish_reason == plain.finish_reason == "eos"
    assert fast.forward_passes < plain.forward_passes / 2  # the script repeats the prompt: drafts hit
    assert fast.accepted_tokens > 0 and model.passes == fast.forward_passes


def test_stops_and_the_token_budget_hold_inside_an_accepted_draft(tokenizer_engine):
    def fresh():
        return ScriptedVerifier(tokenizer_engine, SCRIPT)

    for extra in (dict(max_new_tokens=7), dict(stop=("+ 1\ntotal",)), dict(should_stop=lambda text: text.count("\n") == 2)):
        plain, fast = speculate(tokenizer_engine, fresh(), draft_tokens=0, **extra), speculate(tokenizer_engine, fresh(), **extra)
        assert (fast.text, fast.finish_reason, fast.generated_tokens) == (
            plain.text, plain.finish_reason, plain.generated_tokens), extra
        assert fast.accepted_tokens > 0  # the stop came while drafts were being accepted
    assert speculate(tokenizer_engine, fresh(), max_new_tokens=7).generated_tokens == 7


def test_cancellation_is_seen_within_one_model_pass(tokenizer_engine):
    cancel = CancelToken()
    model = ScriptedVerifier(tokenizer_engine, SCRIPT * 4)
    model.on_pass = lambda passes: cancel.cancel("newer request") if passes == 2 else None
    result = speculate(tokenizer_engine, model, prompt="x = 1\n", cancel=cancel)
    assert result.finish_reason == "cancelled"
    assert model.passes == 2  # no pass after the cancel


def test_no_drafting_while_token_healing_constrains_the_next_token(tokenizer_engine):
    """The heal bias applies to a token's choice; drafted tokens are raw argmaxes, so they wait for it."""
    prompt = "def f(x):\n    return x\n\nif x:\n    "  # ends in indentation: backed off and healed
    plain = speculate(tokenizer_engine, ScriptedVerifier(tokenizer_engine, "    y = 2\n"), prompt=prompt, draft_tokens=0)
    fast = speculate(tokenizer_engine, ScriptedVerifier(tokenizer_engine, "    y = 2\n"), prompt=prompt)
    assert fast.text == plain.text


# -- real (tiny, random) models ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    def load(cls, config):
        engine = cls(config(model=str(tiny_model_dir), device="cpu"))
        engine.load(lambda message, pct: None)
        return engine

    return load(FastCodeGenEngine, FastConfig), load(TransformersEngine, TransformersConfig)


def run_all(engine, draft_tokens, prompts=PROMPTS, max_new_tokens=32):
    results = []
    for prompt in prompts:
        # A later prompt extends an earlier one's cache in places: prefix reuse and verification together.
        request = GenerationRequest(prompt=prompt, max_new_tokens=max_new_tokens, draft_tokens=draft_tokens,
                                    suffix="\n\ndef main():\n    return mul(2, 3)\n")
        results.append(engine.generate(request, CancelToken()))
    return results


def assert_same_text_fewer_passes(plain, fast):
    assert [g.text for g in fast] == [g.text for g in plain]
    assert [g.finish_reason for g in fast] == [g.finish_reason for g in plain]
    drafted, accepted = sum(g.drafted_tokens for g in fast), sum(g.accepted_tokens for g in fast)
    assert drafted > accepted > 0  # both outcomes of a verification happened
    assert sum(g.forward_passes for g in fast) == sum(g.forward_passes for g in plain) - accepted


@pytest.mark.parametrize("which", ["fast", "transformers"])
def test_prompt_lookup_writes_the_same_text_as_plain_greedy(engines, which):
    engine = engines[0] if which == "fast" else engines[1]
    assert_same_text_fewer_passes(run_all(engine, 0), run_all(engine, 4))


def test_padded_verification_on_the_captured_code_path_writes_the_same_text(engines):
    """The static path pads each verification to verify_width (what one CUDA graph per bucket runs)."""
    fast = engines[0]
    eager = fast.model
    plain = run_all(fast, 0)
    fast.model = StaticCodeGen(eager.w, static_step=True, bucket=32, verify_width=7)
    try:
        assert_same_text_fewer_passes(plain, run_all(fast, 4))  # drafts of 1-4 tokens padded to 7
        assert fast.model.verify_width == 7
        assert_same_text_fewer_passes(plain, run_all(fast, 8))  # longer drafts widen it
        assert fast.model.verify_width == 9
    finally:
        fast.model = eager


def replaying_record(captures: list):
    """Stands in for graphs.record_graph (CUDA graph capture) on a CPU: the 'graph' re-runs the program
    into the outputs of the first run, as a replay would. Appends (program name, length) to `captures`."""

    def record(program, length, device=None):
        outputs = program(length)
        captures.append((program.__name__, length))

        class Graph:
            def replay(self):
                fresh = program(length)
                for output, value in zip(outputs, fresh) if isinstance(outputs, tuple) else [(outputs, fresh)]:
                    output.copy_(value)

        return Graph(), outputs

    return record


def graph_model(weights, monkeypatch, captures, **options):
    """The static path with (stand-in) graphs, as on CUDA."""
    model = StaticCodeGen(weights, static_step=True, bucket=32, verify_width=5, record=replaying_record(captures), **options)
    model.graphs = model.verify_graphs = True
    return model


def test_verification_graphs_are_captured_once_per_bucket_and_a_failed_capture_falls_back(engines, monkeypatch):
    fast = engines[0]
    captures = []
    model = graph_model(fast.model.w, monkeypatch, captures)
    fast.model, eager = model, fast.model
    try:
        plain = run_all(engines[1], 0)
        assert_same_text_fewer_passes(plain, run_all(fast, 4))
        verify_captures = [length for name, length in captures if name == "_verify_program"]
        assert verify_captures and sorted(verify_captures) == sorted(set(verify_captures))  # once per bucket
        assert set(model._verify_graphs) == set(verify_captures)

        def fail(program, length, device=None):
            if program == model._verify_program:
                raise RuntimeError("cannot capture")
            return replaying_record(captures)(program, length)

        model.record = fail
        model.forget_graphs()
        assert_same_text_fewer_passes(plain, run_all(fast, 4))
        assert model.verify_graphs is False  # verifications go on without graphs
    finally:
        fast.model = eager


@pytest.mark.parametrize("compile_fails", [False, True])
def test_a_compiled_step_verifies_with_the_compiled_layers_or_falls_back_to_eager_ones(engines, monkeypatch, compile_fails):
    from codegen_lsp.engines.local.codegen import model as codegen_static

    rows_seen = []  # tokens per call of the (stand-in) compiled first half of a layer

    def stand_in_for_compiled():  # compiled_layer_functions minus the compile
        def before(h, *rest):
            rows_seen.append(h.shape[0])
            if compile_fails and h.shape[0] > 1:
                raise RuntimeError("cannot compile this shape")
            return codegen_static.attention_inputs(h, *rest)

        return before, codegen_static.mixed_input

    monkeypatch.setattr(codegen_static, "compiled_layer_functions", stand_in_for_compiled)
    fast = engines[0]
    model = graph_model(fast.model.w, monkeypatch, [], compile_step="on")
    fast.model, eager = model, fast.model
    try:
        plain = run_all(engines[1], 0)
        assert_same_text_fewer_passes(plain, run_all(fast, 4))
        assert 1 in rows_seen and 5 in rows_seen  # steps, and verifications padded to 5, went through it
        assert (model.verify_compiled, model.verify_graphs) == (not compile_fails, True)
        rows_seen.clear()
        assert_same_text_fewer_passes(plain, run_all(fast, 8))  # wider than at load: no compile mid-request
        assert model.verify_width == 9 and not model.verify_compiled and 9 not in rows_seen
    finally:
        fast.model = eager


# -- a draft model --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def draft_dir(tmp_path_factory):
    """Another random model, one layer, the same tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("draft-codegen"), n_layer=1, seed=7)


@pytest.mark.parametrize("cls", [FastCodeGenEngine, TransformersEngine], ids=["fast", "transformers"])
def test_a_draft_model_changes_the_passes_not_the_text(tiny_model_dir, draft_dir, engines, cls):
    plain = run_all(engines[0] if cls is FastCodeGenEngine else engines[1], 0)
    for draft, all_accepted in ((draft_dir, False), (tiny_model_dir, True)):
        config = FastConfig if cls is FastCodeGenEngine else TransformersConfig
        engine = cls(config(model=str(tiny_model_dir), device="cpu", draft_model=str(draft)))
        engine.load(lambda message, pct: None)
        fast = run_all(engine, 4)
        assert [g.text for g in fast] == [g.text for g in plain]
        drafted, accepted = sum(g.drafted_tokens for g in fast), sum(g.accepted_tokens for g in fast)
        assert drafted > 0
        # The model drafting for itself is always right: every pass but the last yields draft + 1 tokens.
        assert (accepted == drafted) == all_accepted


def test_a_draft_model_with_another_tokenizer_is_a_clear_load_error(tiny_model_dir, tmp_path):
    other = tmp_path / "other-tokenizer"
    shutil.copytree(tiny_model_dir, other)
    build_tokenizer(vocab_size=1024).save_pretrained(other)
    engine = TransformersEngine(TransformersConfig(model=str(tiny_model_dir), device="cpu", draft_model=str(other)))
    with pytest.raises(EngineError, match="another tokenizer.*same family"):
        engine.load(lambda message, pct: None)


def test_a_missing_draft_model_names_the_draft_setting(tiny_model_dir, tmp_path):
    engine = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu", draft_model=str(tmp_path / "nope")))
    with pytest.raises(EngineError, match="draftModel"):
        engine.load(lambda message, pct: None)


@pytest.mark.slow
def test_real_compiled_layers_verify_to_the_same_text(engines):
    """The real torch.compile (Inductor's CPU code here): the verification compiles once more for its width."""
    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("Inductor's CPU backend needs a C++ compiler")
    import torch._dynamo

    fast = engines[0]
    torch._dynamo.reset()
    fast.model, eager = StaticCodeGen(fast.model.w, static_step=True, bucket=32, verify_width=5, compile_step="on"), fast.model
    try:
        assert_same_text_fewer_passes(run_all(engines[1], 0), run_all(fast, 4))
        assert fast.model.verify_compiled
    finally:
        fast.model = eager
        torch._dynamo.reset()
