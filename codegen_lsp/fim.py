"""Fill-in-the-middle prompt templates, chosen from the model's own special tokens.

A FIM-trained model sees the code after the cursor too, so it completes what fits between the two
instead of guessing. Each family marks prefix, suffix and middle with its own tokens; the tokenizer's
vocabulary says which family a checkpoint belongs to. CodeGen 1 (no such tokens) stays left-to-right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class FimTemplate:
    family: str
    markers: tuple[str, ...]  # the special tokens that identify the family (all must be in the vocabulary)
    layout: str  # the prompt, with {prefix} and {suffix}
    stops: tuple[str, ...]  # texts that end the middle part

    def render(self, prefix: str, suffix: str) -> str:
        return self.layout.replace("{suffix}", suffix).replace("{prefix}", prefix, 1)

    def overhead(self) -> str:
        """The template's own text, for the token budget."""
        return self.render("", "")


TEMPLATES = (
    FimTemplate(
        "starcoder",
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
        "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
        ("<|endoftext|>", "<file_sep>", "<fim_prefix>"),
    ),
    FimTemplate(
        "santacoder",
        ("<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
        "<fim-prefix>{prefix}<fim-suffix>{suffix}<fim-middle>",
        ("<|endoftext|>",),
    ),
    FimTemplate(
        "qwen2.5-coder",
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
        "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
        ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "<|fim_prefix|>"),
    ),
    FimTemplate(
        "deepseek-coder",
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
        ("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>"),
    ),
    FimTemplate(
        "codellama",
        ("▁<PRE>", "▁<SUF>", "▁<MID>"),
        "<PRE> {prefix} <SUF>{suffix} <MID>",
        ("<EOT>", "</s>"),
    ),
    # CodeGen2 and CodeGen2.5: the span to fill is <mask_1>; the model answers after "<sep><mask_1>".
    FimTemplate(
        "codegen2",
        ("<mask_1>", "<sep>", "<eom>"),
        "{prefix}<mask_1>{suffix}<|endoftext|><sep><mask_1>",
        ("<eom>", "<|endoftext|>", "<mask_2>"),
    ),
)


def choose_template(vocabulary: Iterable[str]) -> FimTemplate | None:
    """The template whose markers are all tokens of the model, or None (left-to-right)."""
    tokens = set(vocabulary)
    for template in TEMPLATES:
        if all(marker in tokens for marker in template.markers):
            return template
    return None


def template_for_tokenizer(tokenizer) -> FimTemplate | None:
    """Look the markers up in a transformers tokenizer (added tokens and the base vocabulary)."""
    if tokenizer is None:
        return None
    try:
        vocabulary = set(tokenizer.get_vocab())
    except Exception:  # a tokenizer without a listable vocabulary cannot be matched: left-to-right
        return None
    markers = {marker for template in TEMPLATES for marker in template.markers}
    return choose_template(vocabulary & markers)
