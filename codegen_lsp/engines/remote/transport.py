"""Where the remote engine's requests go and how: authentication, endpoints, connect timeout."""

from __future__ import annotations

import os
import socket
import threading
import weakref
from contextlib import suppress

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
    """(client, connections) for one server (a RemoteConfig): a synchronous httpx client with the API key,
    timeouts, TLS verified against the system's CA store (plus caBundle, for a company CA), and proxies as
    httpx reads them from the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY); `connections` aborts
    every connection the client opened (see OpenConnections)."""
    import httpx

    timeout = config.request_timeout_seconds
    client = httpx.Client(
        headers=auth_headers(config.api_key_env),
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        verify=tls_context(config.ca_bundle),
        trust_env=True,
    )
    return client, OpenConnections.install(client)


class OpenConnections:
    """Every connection an httpx client opened, so that another thread can end a request that blocks in a
    read: `abort()` shuts the sockets down (a blocked recv returns at once; closing a socket from another
    thread would not wake it), and httpx raises a ReadError in the reading thread. Idle pooled connections
    end too; the pool sees them closed and opens new ones.

    httpx has no public way to give its transports a network backend (httpcore's pools take one): `install`
    sets httpcore's `_network_backend` on the pool of each of the client's transports (the proxy mounts too);
    tests/test_remote_streams.py proves that an abort ends a request waiting for its answer."""

    def __init__(self) -> None:
        import httpcore

        self._backend = httpcore.SyncBackend()
        self._streams: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def install(cls, client) -> "OpenConnections":
        connections = cls()
        backend = connections.backend()
        for transport in [client._transport, *client._mounts.values()]:
            pool = getattr(transport, "_pool", None)
            if pool is not None and hasattr(pool, "_network_backend"):
                pool._network_backend = backend
        return connections

    def backend(self):
        import httpcore

        connections = self

        class Backend(httpcore.NetworkBackend):
            def connect_tcp(self, *args, **kwargs):
                return connections.track(connections._backend.connect_tcp(*args, **kwargs))

            def connect_unix_socket(self, *args, **kwargs):
                return connections.track(connections._backend.connect_unix_socket(*args, **kwargs))

            def sleep(self, seconds: float) -> None:
                connections._backend.sleep(seconds)

        return Backend()

    def track(self, stream):
        import httpcore

        connections = self

        class Tracked(httpcore.NetworkStream):
            """The stream, and the TLS stream made from it (which owns the socket from then on), both tracked."""

            def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
                return stream.read(max_bytes, timeout)

            def write(self, buffer: bytes, timeout: float | None = None) -> None:
                stream.write(buffer, timeout)

            def close(self) -> None:
                stream.close()

            def start_tls(self, *args, **kwargs):
                return connections.track(stream.start_tls(*args, **kwargs))

            def get_extra_info(self, info: str):
                return stream.get_extra_info(info)

        tracked = Tracked()
        with self._lock:
            self._streams.add(tracked)
            closed = self._closed
        if closed:  # opened while close() ran: end it too
            shut_down(tracked)
        return tracked

    def abort(self) -> None:
        """End every connection open now."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            shut_down(stream)

    def close(self) -> None:
        """End every connection, and every one opened from now on."""
        with self._lock:
            self._closed = True
        self.abort()


def shut_down(stream) -> None:
    sock = stream.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError, ValueError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: an SSLSocket's would unwrap


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
