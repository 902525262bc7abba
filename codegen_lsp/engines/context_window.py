"""How long a model's context is, read one way for every engine."""

from __future__ import annotations

# When neither the checkpoint's config nor the server says how long the model's context is.
DEFAULT_CONTEXT_WINDOW = 2048

# The config attributes that name the context length, in the order they are trusted (GPT-2/CodeGen,
# Llama-style, older GPTs, ChatGLM-style).
WINDOW_ATTRIBUTES = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length")


def context_window_of(config) -> int | None:
    """The context window a transformers config names, or None when it names none."""
    for attr in WINDOW_ATTRIBUTES:
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
