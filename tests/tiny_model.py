"""Build a tiny CodeGen model and tokenizer offline, saved with `save_pretrained` so that the real
`from_pretrained` path loads them. Random weights, a byte-level BPE trained on local Python sources.

`word_bias` nudges the output layer towards identifier tokens and away from newlines and end-of-text,
so that greedy decoding writes a long single line of words: deterministic, never empty, and as long
as max_new_tokens — what end-to-end tests need to see text arrive and to cancel a long generation.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

EOS = "<|endoftext|>"


def training_files(limit: int = 60) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size < 200_000)
    return [str(p) for p in files[:limit]]


def build_tokenizer(vocab_size: int = 2048):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train(training_files(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def build_tiny_model(
    directory: str | os.PathLike,
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    rotary_dim: int = 8,
    n_positions: int = 2048,
    word_bias: bool = False,
    seed: int = 0,
    vocab_size: int | None = None,
) -> Path:
    """vocab_size: rows of the embedding and output layer (a real model's size); default the tokenizer's."""
    import torch
    from transformers import CodeGenConfig, CodeGenForCausalLM

    directory = Path(directory)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = CodeGenConfig(
        vocab_size=max(vocab_size or 0, len(tokenizer)),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        rotary_dim=rotary_dim,
        n_positions=n_positions,
        n_ctx=n_positions,
        bos_token_id=0,
        eos_token_id=0,
        initializer_range=0.2,
    )
    model = CodeGenForCausalLM(config).eval()
    if word_bias:
        with torch.no_grad():
            bias = torch.full((config.vocab_size,), -4.0)
            for token_id in range(len(tokenizer)):
                text = tokenizer.decode([token_id])
                if text.strip().isidentifier() and "\n" not in text:
                    bias[token_id] = 4.0
            model.lm_head.bias.copy_(bias)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# The decoder families most code models are built on, each as a tiny configuration (grouped-query attention
# where the family has it); the fields are each config class's own names.
FAMILY_CONFIGS = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(num_key_value_heads=2)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(num_key_value_heads=2)),
    "starcoder2": ("Starcoder2Config", "Starcoder2ForCausalLM", dict(num_key_value_heads=2, use_bias=True)),
}


def build_tiny_family_model(
    directory: str | os.PathLike, family: str, *, seed: int = 0, max_positions: int = 1024, **fields
) -> Path:
    """A tiny random Llama, Qwen2 or StarCoder2 model with the shared tiny tokenizer, saved for from_pretrained;
    `fields`: more of the config's own fields (a sliding window)."""
    import torch
    import transformers

    config_name, model_name, extra = FAMILY_CONFIGS[family]
    directory = Path(directory)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = getattr(transformers, config_name)(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=max_positions, bos_token_id=0, eos_token_id=0,
        pad_token_id=0, initializer_range=0.2, tie_word_embeddings=False, **{**extra, **fields},
    )
    model = getattr(transformers, model_name)(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


if __name__ == "__main__":
    import sys

    print(build_tiny_model(sys.argv[1], word_bias="--word-bias" in sys.argv))
