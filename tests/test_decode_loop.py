"""The shared decode loop of the in-process engines, driven by a scripted model: stopping, cancellation,
stop sequences, token healing and sampling, without depending on what random weights happen to write."""

import pytest
import torch

from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.decoding.choice import heal_worthy
from helpers.token_models import ScriptedTokenModel


class ScriptedModel(ScriptedTokenModel):
    """Logits that rank the scripted text's next token first (and a runner-up second)."""

    def __init__(self, tokenizer_engine, script: str, runner_up: str = "", on_step=None):
        self.order = tokenizer_engine.encode(script) + [0]
        self.runner_up = tokenizer_engine.encode(runner_up) if runner_up else []
        self.size = len(tokenizer_engine.tokenizer)
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


def run(tokenizer_engine, model, prompt="x = f(1)", should_stop=None, cancel=None, **request):
    tokenizer_engine.model = model
    request = GenerationRequest(prompt=prompt, **{"max_new_tokens": 40, **request})
    return tokenizer_engine.generate(request, cancel or CancelToken(), should_stop)


def test_generation_ends_at_end_of_text(tokenizer_engine):
    result = run(tokenizer_engine, ScriptedModel(tokenizer_engine, "y = 2\nz = 3"))
    assert (result.text, result.finish_reason) == ("y = 2\nz = 3", "eos")


def test_stop_check_ends_decoding_as_soon_as_the_rest_would_be_cut(tokenizer_engine):
    model = ScriptedModel(tokenizer_engine, "y = 2\nz = 3\nw = 4\n" * 5)
    result = run(tokenizer_engine, model, should_stop=lambda text: "\n" in text)
    assert result.finish_reason == "cut" and result.text.startswith("y = 2\n")
    assert result.generated_tokens == len(tokenizer_engine.encode(result.text))
    assert model.steps < result.generated_tokens + 1  # no step was decoded past the cut


def test_stop_sequences_truncate(tokenizer_engine):
    result = run(tokenizer_engine, ScriptedModel(tokenizer_engine, "y = 2\ndef g():\n    pass"), stop=("\ndef ",))
    assert (result.text, result.finish_reason) == ("y = 2", "stop")


def test_max_new_tokens_bounds_the_output(tokenizer_engine):
    result = run(tokenizer_engine, ScriptedModel(tokenizer_engine, "a b c d e f g h i j k l m n o p"), max_new_tokens=3)
    assert result.generated_tokens == 3 and result.finish_reason == "length"


def test_cancellation_is_seen_at_the_next_step(tokenizer_engine):
    cancel = CancelToken()
    model = ScriptedModel(tokenizer_engine, "a b c d e f g h i j k l m n o p", on_step=lambda n: n == 3 and cancel.cancel())
    result = run(tokenizer_engine, model, cancel=cancel)
    assert result.finish_reason == "cancelled" and result.generated_tokens == 3


def test_cancelled_before_start_never_runs_the_model(tokenizer_engine):
    cancel = CancelToken()
    cancel.cancel()
    model = ScriptedModel(tokenizer_engine, "a b c")
    result = run(tokenizer_engine, model, cancel=cancel)
    assert result.finish_reason == "cancelled" and model.prefilled is None


def test_token_healing_backs_off_indentation_and_keeps_only_new_text(tokenizer_engine):
    prompt = "def f(x):\n    "
    last = tokenizer_engine.decode(tokenizer_engine.encode(prompt)[-1:])
    assert heal_worthy(last)
    # The model prefers a token that disagrees with the backed-off text; healing must not take it.
    model = ScriptedModel(tokenizer_engine, prompt[-len(last):] + "return x\n", runner_up="zzz")
    result = run(tokenizer_engine, model, prompt=prompt)
    assert model.prefilled == tokenizer_engine.encode(prompt)[:-1]
    assert result.text == "return x\n"


def test_heal_worthy_tokens():
    assert heal_worthy("    ") and heal_worthy(" retur") and heal_worthy("\n    ")
    assert not heal_worthy("(") and not heal_worthy(":\n") and not heal_worthy("")


def test_sampling_is_deterministic_for_a_seed(tokenizer_engine):
    def sample(seed):
        return run(tokenizer_engine, ScriptedModel(tokenizer_engine, "a b c d e f"), temperature=5.0, seed=seed, max_new_tokens=6).text

    assert sample(1) == sample(1)
    assert len({sample(s) for s in range(4)}) > 1


def test_the_direct_tokenizer_gives_the_wrappers_ids(tokenizer_engine):
    text = "def f(x):\n    return {'ü': x}  # 漢字 😀\n\tpass\n" * 3
    assert tokenizer_engine._backend is not None  # a fast tokenizer: the server skips the wrapper's conversions
    assert tokenizer_engine.encode(text) == tokenizer_engine.tokenizer.encode(text, add_special_tokens=False)
