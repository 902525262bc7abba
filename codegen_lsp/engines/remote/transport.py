"""Where the remote engine's requests go and how: authentication, endpoints, connect timeout."""

from __future__ import annotations

import os

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
