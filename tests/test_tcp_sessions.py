"""TCP mode serves one client at a time: a second client is refused with a message and never sees the first's
answers or documents; port probes and departing clients never end the session; disconnects log no traceback."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest

from raw_lsp import frame
from test_security import free_port

SECRET = "API_KEY = 'first-clients-secret'\n"


class TcpClient:
    """A byte-level LSP client over one TCP connection; a reader thread queues each framed message."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.messages: queue.Queue[dict | None] = queue.Queue()  # None: the server closed the connection
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        self.messages.put(None)
                        return
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    elif line in (b"\r\n", b"\n") and length is not None:
                        break
                self.messages.put(json.loads(stream.read(length)))
        except OSError:
            self.messages.put(None)

    def send(self, message: dict) -> None:
        self.sock.sendall(frame(json.dumps(message).encode("utf-8")))

    def request(self, method: str, params=None) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def next_message(self, timeout: float = 60.0) -> dict | None:
        return self.messages.get(timeout=timeout)

    def response(self, msg_id: int, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_message(max(0.1, deadline - time.monotonic()))
            assert message is not None, "the server closed the connection"
            if message.get("id") == msg_id and "method" not in message:
                return message

    def call(self, method: str, params=None) -> dict:
        return self.response(self.request(method, params))

    def notify(self, method: str, params=None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self) -> None:
        self.sock.close()


def probe(port: int) -> None:
    """What a port scanner or a health check does: connect, send nothing, leave."""
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass


@pytest.fixture
def tcp_server(tmp_path):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "codegen_lsp", "--tcp", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            probe(port)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start listening"
            time.sleep(0.1)
    yield port, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def initialize(client: TcpClient, model: str) -> None:
    params = {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": {"model": model}}
    assert "result" in client.call("initialize", params)
    client.notify("initialized", {})


def text_of(client: TcpClient, uri: str) -> str | None:
    return client.call("codegen/documentText", {"uri": uri})["result"]["text"]


def test_a_second_client_is_refused_and_probes_never_end_the_session(tcp_server, tmp_path):
    port, proc = tcp_server
    probe(port)  # before any session: leaves no trace
    first = TcpClient(port)
    initialize(first, str(tmp_path / "no-model"))
    first.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///secret.py", "languageId": "python", "version": 1, "text": SECRET}})
    assert text_of(first, "file:///secret.py") == SECRET

    second = TcpClient(port)
    second_ids = [second.request("codegen/documentText", {"uri": "file:///secret.py"})]
    refused = second.next_message()
    assert refused["method"] == "window/showMessage" and "one client at a time" in refused["params"]["message"]
    assert second.next_message() is None  # then closed: it never read the first client's answers or documents
    second.close()

    probe(port)  # during the session
    # The first client's session goes on, its answers to it alone, its document intact.
    assert text_of(first, "file:///secret.py") == SECRET
    assert first.call("shutdown")["result"] is None
    first.notify("exit")
    assert proc.wait(timeout=30) == 0
    stderr = proc.stderr.read().decode("utf-8", "replace")
    assert "Traceback" not in stderr and "ERROR" not in stderr.replace("model load failed", "")
    assert "refused a TCP connection" in stderr
    assert second_ids  # (sent before the refusal arrived: still never answered, the connection was closed)


def test_a_client_that_disconnects_ends_the_server_without_a_traceback(tcp_server, tmp_path):
    port, proc = tcp_server
    client = TcpClient(port)
    initialize(client, str(tmp_path / "no-model"))
    client.close()
    assert proc.wait(timeout=120) == 1  # the stream ended without shutdown and exit, as on stdio
    stderr = proc.stderr.read().decode("utf-8", "replace")
    assert "Traceback" not in stderr
