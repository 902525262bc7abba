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


def http_client(config):
    """The HTTP client for one server (a RemoteConfig): the API key, timeouts, TLS verified against the system's
    CA store (plus caBundle, for a company CA), and proxies as httpx reads them from the environment
    (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY)."""
    import httpx

    timeout = config.request_timeout_seconds
    return httpx.AsyncClient(
        headers=auth_headers(config.api_key_env),
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        verify=tls_context(config.ca_bundle),
        trust_env=True,
    )


def tls_context(ca_bundle: str | None = None):
    """The operating system's trusted CAs (OpenSSL's default paths, which also honour SSL_CERT_FILE and
    SSL_CERT_DIR), and the certificates in `ca_bundle` on top. httpx's default would be certifi's list,
    which does not know a company's own CA."""
    import ssl

    from ..base import EngineError

    context = ssl.create_default_context()
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=os.path.expanduser(ca_bundle))
        except (OSError, ssl.SSLError) as err:
            raise EngineError(f"cannot read the CA bundle {ca_bundle} (codegenLsp.caBundle): {err}") from err
    return context
