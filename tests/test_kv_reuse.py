"""KV prefix reuse in the transformers engine: same tokens as computing from scratch, fewer tokens computed."""

import pytest

from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.config import TransformersConfig
from codegen_lsp.engines.local.transformers_engine import TransformersEngine
from codegen_lsp.engines.decoding.token_model import common_prefix_length

BASE = open(__file__.replace("test_kv_reuse.py", "tiny_model.py")).read()[:3000]

EDITS = [
    ("first", BASE),
    ("append", BASE + "    value = compute("),
    ("append more", BASE + "    value = compute(1, 2"),
    ("backspace", BASE + "    value = comp"),
    ("edit in the middle", BASE[:1500] + "# inserted comment\n" + BASE[1500:]),
    ("move cursor up", BASE[:2000]),
    ("other document", "import os\n\nclass Thing:\n    def __init__(self):\n        self."),
    ("back to the first", BASE + "    value = compute(1, 2"),
]


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    reusing = TransformersEngine(TransformersConfig(model=str(tiny_model_dir), device="cpu", kv_cache_slots=2))
    scratch = TransformersEngine(TransformersConfig(model=str(tiny_model_dir), device="cpu", kv_cache_slots=0))
    for engine in (reusing, scratch):
        engine.load(lambda message, pct: None)
    return reusing, scratch


def generate(engine, prompt):
    return engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=24), CancelToken())


def test_reuse_gives_the_same_tokens_as_from_scratch_and_computes_less(engines):
    reusing, scratch = engines
    reused = {}
    for name, prompt in EDITS:
        with_reuse, without = generate(reusing, prompt), generate(scratch, prompt)
        assert with_reuse.text == without.text, name
        assert without.reused_tokens == 0
        reused[name] = (with_reuse.reused_tokens, with_reuse.prompt_tokens)
    for name in ("append", "append more", "backspace", "edit in the middle", "move cursor up"):
        assert reused[name][0] > 0, name
    # Typing one more chunk prefills only what is new (plus a backed-off token or two).
    assert reused["append more"][1] - reused["append more"][0] <= 6
    # The other document took a second slot, so the first document's cache survived the detour.
    assert reused["other document"][0] == 0
    assert reused["back to the first"][0] >= reused["move cursor up"][1] - 2


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2]) == 2
