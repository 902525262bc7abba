"""Token healing: a prompt that ends in indentation or half a word is backed off to a whole token, and the
first generated tokens must put the removed text back — and, after indentation, go on with code rather
than the stray extra space that unhealed BPE models write at line starts."""

import pytest
import torch

from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.decoding.choice import heal_allows
from helpers.token_models import ScriptedTokenModel


class PreferenceModel(ScriptedTokenModel):
    """Logits that follow candidate continuations of the prompt, the first one most strongly."""

    def __init__(self, tokenizer_engine, candidates: list[str]):
        self.tokenizer_engine, self.candidates = tokenizer_engine, candidates
        self.size = len(tokenizer_engine.tokenizer)
        self.generated: list[int] = []

    def logits(self):
        scores = torch.zeros(self.size)
        text = self.tokenizer_engine.decode(self.generated)
        for weight, candidate in zip((10.0, 5.0, 2.0), self.candidates):
            if candidate.startswith(text):
                ids = self.tokenizer_engine.encode(candidate[len(text):])
                token = ids[0] if ids else next(iter(self.tokenizer_engine.eos_ids))
                scores[token] = max(scores[token], weight)
        return scores

    def prefill(self, ids):
        return self.logits(), 0

    def step(self, token):
        self.generated.append(token)
        return self.logits()

    def reset(self):
        pass


def generate(tokenizer_engine, prompt, candidates):
    tokenizer_engine.model = PreferenceModel(tokenizer_engine, candidates)
    return tokenizer_engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=8), CancelToken()).text


@pytest.mark.parametrize("prompt", ["def f(x):\n    ", "def f(x):\n\tif x:\n\t\t", "x = "])
def test_healed_indentation_is_followed_by_code_not_a_stray_space(tokenizer_engine, prompt):
    heal = tokenizer_engine.decode(tokenizer_engine.encode(prompt)[-1:])
    # The model's favourite continuation repeats the backed-off whitespace and then adds a space.
    text = generate(tokenizer_engine, prompt, [heal + " return x", heal + "return x"])
    assert text == "return x"


def test_a_word_fragment_is_completed_not_restarted(tokenizer_engine):
    prompt = "for item in ite"
    heal = tokenizer_engine.decode(tokenizer_engine.encode(prompt)[-1:])
    assert heal.strip() and "ite".endswith(heal)
    text = generate(tokenizer_engine, prompt, [heal[:-1] + "x in y:", heal + "ms:"])
    assert text == "ms:"


@pytest.mark.parametrize(
    "text, heal, allowed",
    [
        ("  ", "    ", True),  # part of the indentation
        ("    ", "    ", True),  # all of it
        ("    x", "    ", True),  # the indentation, then code
        ("     x", "    ", False),  # one space too many
        ("    \n", "    ", False),  # a blank line instead of code
        (" retu", " ret", True),
        (" rex", " ret", False),
        (" ret(", " ret", True),
        ("\n    y", "\n    ", True),
        ("\n     y", "\n    ", False),
        ("\n\n", "\n", True),  # a heal that ends in a newline puts no limit on what follows
    ],
)
def test_heal_allows_golden(text, heal, allowed):
    assert heal_allows(text, heal) is allowed


LINE_STARTS = [
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        ",
    "def read_lines(path):\n    with open(path) as f:\n        lines = f.readlines()\n    ",
    "def parse(text):\n    result = []\n    for line in text.splitlines():\n        line = line.strip()\n        ",
    "def area(width, height):\n    if width < 0:\n        raise ValueError(width)\n    ",
]


@pytest.mark.slow
@pytest.mark.shared_model
async def test_shared_model_starts_line_start_completions_with_code(shared_model_dir):
    """At line starts inside bodies the unhealed model began with an extra space (issue 6); healed, never."""
    from codegen_lsp.completion import Completer
    from codegen_lsp.settings import parse_settings

    settings, _ = parse_settings({"model": str(shared_model_dir), "device": "cpu", "dtype": "float32", "maxNewTokens": 6})
    completer = Completer(settings)
    try:
        assert await completer.load(lambda message, pct: None)
        for prompt in LINE_STARTS:
            items = await completer.complete("file:///p/a.py", prompt, len(prompt), "python")
            assert items and not items[0].text[:1].isspace(), (prompt, items)
    finally:
        completer.close()
