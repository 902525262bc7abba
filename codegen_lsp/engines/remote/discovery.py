"""What the remote engine learns about the served model: its id, its context window, a local tokenizer."""

from __future__ import annotations

import logging
from contextlib import suppress

from ..context_window import context_window_of

log = logging.getLogger(__name__)


def first_model_id(entries: list) -> str | None:
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            return entry["id"]
    return None


def served_context_window(entries: list, model: str | None) -> int | None:
    """vLLM lists `max_model_len`; llama.cpp lists `meta.n_ctx` (one slot's context)."""
    chosen = [e for e in entries if isinstance(e, dict) and e.get("id") == model] or [
        e for e in entries if isinstance(e, dict)
    ][:1]
    for entry in chosen:
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        for value in (entry.get("max_model_len"), meta.get("n_ctx"), meta.get("n_ctx_train")):
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def load_local_tokenizer(names: list[str]):
    """(tokenizer, context window from its config or None) for the first name that loads, else (None, None)."""
    from transformers import AutoConfig, AutoTokenizer

    for name in names:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except Exception as err:  # not a model id or directory, not cached, hub unreachable ...
            log.info("no tokenizer from '%s' (%s); trying the next source", name, str(err).splitlines()[0] if str(err) else err)
            continue
        window = None
        with suppress(Exception):
            window = context_window_of(AutoConfig.from_pretrained(name))
        return tokenizer, window
    return None, None

