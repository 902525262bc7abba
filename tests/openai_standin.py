"""A small OpenAI-compatible stand-in server on 127.0.0.1 for what real servers do only under load or in a
company network: overload answers (429/503, with or without Retry-After), `n` choices, https with a private
CA, and being reached through a forward proxy. It records every request it gets (path, body, headers, whether
it came as a proxy request), so tests can count what the editor sent.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Seen:
    method: str
    path: str
    body: dict
    headers: dict
    proxied: bool  # the request line held an absolute URI: it came through this server as a proxy


@dataclass
class Script:
    """What the next completion requests get: `overloads` answers of (status, Retry-After or None) first."""

    overloads: list = field(default_factory=list)
    owned_by: str = "standin"
    honours_n: bool = True
    # Misbehaving streams: `stream` is the raw body the next streamed completions send instead of words;
    # after it the server closes ("close"), keeps the connection open without a byte more ("hang"), or sends
    # text chunks for as long as the client reads ("endless"). `left` is set when a client leaves such a stream.
    stream: list | None = None
    then: str = "close"
    left: threading.Event = field(default_factory=threading.Event)


class StandIn:
    def __init__(self, tls: ssl.SSLContext | None = None, owned_by: str = "standin") -> None:
        self.script = Script(owned_by=owned_by)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"standin": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "StandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def completions(self) -> list[Seen]:
        """Generation requests (the one-token probe at load left out)."""
        with self.lock:
            return [s for s in self.seen if s.path.endswith("/completions") and s.body.get("max_tokens") != 1]


def text_for(prompt: str, tokens: int, choice: int = 0) -> str:
    """Deterministic words: the same request gets the same text; each choice its own."""
    seed = sum(map(ord, prompt[-20:])) + 7 * choice
    return "".join(f"w{(seed + i) % 97} " for i in range(tokens))


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _record(self, body: dict) -> str:
        proxied = self.path.startswith(("http://", "https://"))
        path = urlsplit(self.path).path if proxied else self.path
        with self.standin.lock:
            self.standin.seen.append(Seen(self.command, path, body, dict(self.headers), proxied))
        return path

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self._record({})
        if path.endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "standin", "owned_by": self.standin.script.owned_by}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self._record(body)
        if not path.endswith("/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        script = self.standin.script
        if body.get("max_tokens") != 1 and script.overloads:
            status, retry_after = script.overloads.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            self._json(status, {"error": {"message": "server overloaded", "type": "overloaded"}}, headers)
            return
        tokens = int(body.get("max_tokens") or 16)
        n = int(body.get("n") or 1) if script.honours_n else 1
        prompt = str(body.get("prompt") or "")
        if not body.get("stream"):
            first = 1 if float(body.get("temperature") or 0) > 0 else 0  # sampled choices differ from greedy
            choices = [{"index": i, "text": text_for(prompt, tokens, first + i), "finish_reason": "length"} for i in range(n)]
            self._json(200, {"choices": choices, "usage": {"prompt_tokens": len(prompt) // 3, "completion_tokens": n * tokens}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        if script.stream is not None:
            self._misbehave(script)
            return
        words = text_for(prompt, tokens).split(" ")[:tokens]
        try:
            for i, word in enumerate(words):
                finish = "length" if i == len(words) - 1 else None
                chunk = {"choices": [{"index": 0, "text": word + " ", "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


    def _misbehave(self, script: Script) -> None:
        chunk = b'data: {"choices": [{"index": 0, "text": "more ", "finish_reason": null}]}\n\n'
        try:
            for part in script.stream:
                self.wfile.write(part)
                self.wfile.flush()
            while script.then == "endless":
                self.wfile.write(chunk)
                self.wfile.flush()
            if script.then == "hang":
                self.connection.recv(1)  # returns when the client closes the connection
        except OSError:
            pass
        script.left.set()
        self.close_connection = True


# -- a private CA and a server certificate for 127.0.0.1 (openssl CLI) -------------------------------------------
def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA no system trusts, and a certificate it signed for 127.0.0.1."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
            "-subj", "/CN=codegen-lsp test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(extensions))  # fmt: skip
    return ca, cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context
