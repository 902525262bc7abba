"""The requests the remote engine sends: authentication, endpoints, and the bodies of /completions
(OpenAI) and /infill (llama.cpp)."""

from __future__ import annotations

import os

from ..base import GenerationRequest

# Connecting should be quick; a longer wait means the host is gone (the read timeout is the setting).
CONNECT_TIMEOUT_SECONDS = 5.0


def auth_headers(api_key_env: str) -> dict[str, str]:
    """The key comes only from the environment variable the settings name; it is never logged."""
    key = os.environ.get(api_key_env, "").strip() if api_key_env else ""
    return {"Authorization": f"Bearer {key}"} if key else {}


def server_root(api_base: str) -> str:
    """llama.cpp serves /infill beside /v1, not under it."""
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def completion_body(request: GenerationRequest, model: str | None) -> dict:
    # Token healing cannot be constrained remotely: put the backed-off text back into the prompt.
    body = {
        "model": model,
        "prompt": request.prompt + request.heal,
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
    }
    return with_stop_and_seed(body, request)


def infill_body(request: GenerationRequest) -> dict:
    """llama.cpp's /infill: the server builds the model's own FIM prompt from prefix and suffix."""
    body = {
        "input_prefix": request.prompt,
        "input_suffix": request.suffix[:INFILL_SUFFIX_CHARS],
        "prompt": request.heal,
        "n_predict": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "cache_prompt": True,
    }
    return with_stop_and_seed(body, request)


def with_stop_and_seed(body: dict, request: GenerationRequest) -> dict:
    """The optional fields both endpoints take alike."""
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    return body


# llama.cpp's /infill keeps only ~n_batch/4 tokens of suffix itself; sending more is wasted bytes.
INFILL_SUFFIX_CHARS = 4096

