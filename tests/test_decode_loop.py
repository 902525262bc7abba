"""The shared decode loop of the in-process engines, driven by a scripted model: stopping, cancellation,
stop sequences, token healing and sampling, without depending on what random weights happen to write."""

import pytest
import torch

from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.local import LocalEngine, heal_worthy
from codegen_lsp.settings import Settings


class ScriptedModel:
    """Logits that rank the scripted text's next token first (and a runner-up second)."""

    def __init__(self, engine, script: str, runner_up: str = "", on_step=None):
        self.order = engine.encode(script) + [0]
        self.runner_up = engine.encode(runner_up) if runner_up else []
        self.size = len(engine.tokenizer)
        self.position = 0
        self.steps = 0
        self.on_step = on_step
        self.prefilled = None

    def logits(self):
        scores = torch.zeros(self.size)
        if self.runner_up and self.position < len(self.runner_up):
            scores[self.runner_up[self.position]] = 5.0
        scores[self.order[min(self.position, len(self.order) - 1)]] = 10.0
        return scores

    def prefill(self, ids):
        self.prefilled = list(ids)
        return self.logits(), 0

    def step(self, token):
        self.steps += 1
        self.position += 1
        if self.on_step:
            self.on_step(self.steps)
        return self.logits()

    def reset(self):
        pass


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    engine = LocalEngine(Settings(model=str(tiny_model_dir)))
    engine._load_model = lambda report: None
    engine.load(lambda message, pct: None)
    return engine


def run(engine, model, prompt="x = f(1)", should_stop=None, cancel=None, **request):
    engine.model = model
    request = GenerationRequest(prompt=prompt, **{"max_new_tokens": 40, **request})
    return engine.generate(request, cancel or CancelToken(), should_stop)


def test_generation_ends_at_end_of_text(engine):
    result = run(engine, ScriptedModel(engine, "y = 2\nz = 3"))
    assert (result.text, result.finish_reason) == ("y = 2\nz = 3", "eos")


def test_stop_check_ends_decoding_as_soon_as_the_rest_would_be_cut(engine):
    model = ScriptedModel(engine, "y = 2\nz = 3\nw = 4\n" * 5)
    result = run(engine, model, should_stop=lambda text: "\n" in text)
    assert result.finish_reason == "cut" and result.text.startswith("y = 2\n")
    assert result.generated_tokens == len(engine.encode(result.text))
    assert model.steps < result.generated_tokens + 1  # no step was decoded past the cut


def test_stop_sequences_truncate(engine):
    result = run(engine, ScriptedModel(engine, "y = 2\ndef g():\n    pass"), stop=("\ndef ",))
    assert (result.text, result.finish_reason) == ("y = 2", "stop")


def test_max_new_tokens_bounds_the_output(engine):
    result = run(engine, ScriptedModel(engine, "a b c d e f g h i j k l m n o p"), max_new_tokens=3)
    assert result.generated_tokens == 3 and result.finish_reason == "length"


def test_cancellation_is_seen_at_the_next_step(engine):
    cancel = CancelToken()
    model = ScriptedModel(engine, "a b c d e f g h i j k l m n o p", on_step=lambda n: n == 3 and cancel.cancel())
    result = run(engine, model, cancel=cancel)
    assert result.finish_reason == "cancelled" and result.generated_tokens == 3


def test_cancelled_before_start_never_runs_the_model(engine):
    cancel = CancelToken()
    cancel.cancel()
    model = ScriptedModel(engine, "a b c")
    result = run(engine, model, cancel=cancel)
    assert result.finish_reason == "cancelled" and model.prefilled is None


def test_token_healing_backs_off_indentation_and_keeps_only_new_text(engine):
    prompt = "def f(x):\n    "
    last = engine.decode(engine.encode(prompt)[-1:])
    assert heal_worthy(last)
    # The model prefers a token that disagrees with the backed-off text; healing must not take it.
    model = ScriptedModel(engine, prompt[-len(last):] + "return x\n", runner_up="zzz")
    result = run(engine, model, prompt=prompt)
    assert model.prefilled == engine.encode(prompt)[:-1]
    assert result.text == "return x\n"


def test_heal_worthy_tokens():
    assert heal_worthy("    ") and heal_worthy(" retur") and heal_worthy("\n    ")
    assert not heal_worthy("(") and not heal_worthy(":\n") and not heal_worthy("")


def test_sampling_is_deterministic_for_a_seed(engine):
    def sample(seed):
        return run(engine, ScriptedModel(engine, "a b c d e f"), temperature=5.0, seed=seed, max_new_tokens=6).text

    assert sample(1) == sample(1)
    assert len({sample(s) for s in range(4)}) > 1


def test_the_direct_tokenizer_gives_the_wrappers_ids(engine):
    text = "def f(x):\n    return {'ü': x}  # 漢字 😀\n\tpass\n" * 3
    assert engine._backend is not None  # a fast tokenizer: the server skips the wrapper's conversions
    assert engine.encode(text) == engine.tokenizer.encode(text, add_special_tokens=False)
