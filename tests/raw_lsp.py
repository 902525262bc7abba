"""A byte-level LSP client for tests that must send what pytest-lsp cannot (garbage, wrong shapes) or must see
every message the server writes (to count responses per request id, or to read its stderr).

It runs the real server as a subprocess; a reader thread parses framed messages from its stdout into a queue,
another collects stderr.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

SERVER_ARGS = [sys.executable, "-m", "codegen_lsp", "--stdio"]


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    def __init__(self, args: list[str] | None = None, env: dict | None = None) -> None:
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", **(env or {})}
        self.proc = subprocess.Popen(
            args or SERVER_ARGS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
        )
        self.messages: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []  # every message read so far, in order
        self._stderr: list[bytes] = []
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- reading -----------------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n") and length is not None:
                    break
            message = json.loads(out.read(length))
            self.seen.append(message)
            self.messages.put(message)

    def _read_stderr(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        """The next message (read after this call) that satisfies predicate; TimeoutError when none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message from the server")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(message):
                return message

    def response(self, msg_id, timeout: float = 30.0) -> dict:
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    # -- writing -----------------------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(frame(json.dumps(message).encode("utf-8")))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Any = None) -> int:
        msg_id = self.new_id()
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def call(self, method: str, params: Any = None, timeout: float = 30.0) -> dict:
        return self.response(self.request(method, params), timeout)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    # -- LSP conveniences --------------------------------------------------------------------------------
    def initialize(self, options: dict, encodings: list[str] | None = None, process_id: int | None = None) -> dict:
        capabilities = {"general": {"positionEncodings": encodings or ["utf-16"]}}
        result = self.call(
            "initialize",
            {"processId": process_id, "rootUri": None, "capabilities": capabilities, "initializationOptions": options},
            timeout=60,
        )
        self.notify("initialized", {})
        return result

    def wait_until_loaded(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.call("codegen/stats")["result"]
            if stats["state"] in ("ready", "failed"):
                return stats
            time.sleep(0.1)
        raise TimeoutError("the model never loaded")

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
        )

    def inline(self, uri: str, line: int, character: int, timeout: float = 30.0) -> dict:
        return self.call("textDocument/inlineCompletion", inline_params(uri, line, character), timeout)

    def close(self, timeout: float = 10.0) -> int | None:
        """End politely (shutdown, exit); kill when that does not work. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.call("shutdown", None, timeout=timeout)
                self.notify("exit")
                self.proc.stdin.close()
            except (OSError, TimeoutError, ValueError):
                pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def inline_params(uri: str, line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }
