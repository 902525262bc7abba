"""Fill-in-the-middle: the template comes from the model's own special tokens (tokenizers built offline
with each family's markers); CodeGen 1 has none and stays left-to-right."""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from codegen_lsp.fim import template_for_tokenizer
from codegen_lsp.prompt import build_prompt

FAMILIES = {
    "starcoder": ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<file_sep>"],
    "santacoder": ["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"],
    "qwen2.5-coder": ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|file_sep|>"],
    "deepseek-coder": ["<｜begin▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>", "<|EOT|>"],
    "codellama": ["<s>", "</s>", "▁<PRE>", "▁<MID>", "▁<SUF>", "▁<EOT>"],
    "codegen2": ["<|endoftext|>", "<sep>", "<eom>", "<mask_1>", "<mask_2>"],
}


def tokenizer_with(special: list[str]) -> PreTrainedTokenizerFast:
    vocab = {word: i for i, word in enumerate(["[UNK]", "def", "return", "x", "(", ")", ":"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    return tokenizer


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_template_chosen_from_the_tokenizer(family):
    template = template_for_tokenizer(tokenizer_with(FAMILIES[family]))
    assert template is not None and template.family == family


def test_codegen1_style_tokenizer_stays_left_to_right(tiny_model_dir):
    from transformers import AutoTokenizer

    assert template_for_tokenizer(AutoTokenizer.from_pretrained(tiny_model_dir)) is None
    assert template_for_tokenizer(tokenizer_with(["<|endoftext|>"])) is None
    assert template_for_tokenizer(None) is None


@pytest.mark.parametrize(
    "family, expected",
    [
        ("starcoder", "<fim_prefix>def f(x):\n    <fim_suffix>\n    return y\n<fim_middle>"),
        ("qwen2.5-coder", "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n    return y\n<|fim_middle|>"),
        ("deepseek-coder", "<｜fim▁begin｜>def f(x):\n    <｜fim▁hole｜>\n    return y\n<｜fim▁end｜>"),
        ("codegen2", "def f(x):\n    <mask_1>\n    return y\n<|endoftext|><sep><mask_1>"),
        ("codellama", "<PRE> def f(x):\n     <SUF>\n    return y\n <MID>"),
    ],
)
def test_fim_prompt_layout(family, expected):
    template = template_for_tokenizer(tokenizer_with(FAMILIES[family]))
    built = build_prompt("def f(x):\n    ", "\n    return y\n", "/p/a.py", "python", 1000, len, with_header=False, fim=template)
    assert built.text == expected


def test_fim_suffix_is_cut_at_a_line_end_to_its_share_of_the_budget():
    template = template_for_tokenizer(tokenizer_with(FAMILIES["starcoder"]))
    suffix = "".join(f"    step_{i}()\n" for i in range(500))
    built = build_prompt("def f():\n    ", suffix, "/p/a.py", "python", 400, len, fim=template)
    middle = built.text.split("<fim_suffix>")[1].split("<fim_middle>")[0]
    assert suffix.startswith(middle) and middle.endswith("\n") and 0 < len(middle) <= 100
    assert built.suffix_tokens == len(middle)
    assert len(built.text) <= 400
