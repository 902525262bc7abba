"""Lifecycle over real stdio: shutdown/exit as the spec says, exit when stdin closes, exit when the editor named in
initialize.processId dies. No test leaves a server behind: every process is waited for or killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from codegen_lsp.lifecycle import pid_alive
from raw_lsp import RawServer, inline_params

EXITS_WITHIN = 20  # seconds: a hang guard, not a performance target


@pytest.fixture
def started(wordy_model_dir):
    servers: list[RawServer] = []

    def start(process_id: int | None = None, loaded: bool = True, **options) -> RawServer:
        """A server with the model loaded, or (loaded=False, quicker) one whose model is missing."""
        raw = RawServer()
        servers.append(raw)
        model = wordy_model_dir if loaded else wordy_model_dir / "missing"
        raw.initialize({"model": str(model), "device": "cpu", "maxNewTokens": 4, **options}, process_id=process_id)
        assert raw.wait_until_loaded()["state"] == ("ready" if loaded else "failed")
        return raw

    yield start
    for raw in servers:
        if raw.proc.poll() is None:
            raw.proc.kill()
            raw.proc.wait()


def exit_code(raw: RawServer) -> int:
    return raw.proc.wait(timeout=EXITS_WITHIN)


def test_a_second_initialize_is_refused_and_the_session_keeps_its_documents(started):
    raw = started(loaded=False)
    raw.open("file:///work/kept.py", "x = 1\n")
    again = raw.call("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert again["error"]["code"] == -32600 and "only once" in again["error"]["message"]
    assert raw.call("codegen/documentText", {"uri": "file:///work/kept.py"})["result"]["text"] == "x = 1\n"
    assert "result" in raw.call("codegen/stats")  # still serving, still initialized
    raw.close()
    assert exit_code(raw) == 0


def test_exit_without_shutdown_ends_with_code_1(started):
    raw = started(loaded=False)
    raw.notify("exit")
    assert exit_code(raw) == 1


def test_server_exits_when_stdin_closes(started):
    raw = started(loaded=False)
    raw.proc.stdin.close()
    assert exit_code(raw) == 1  # the stream ended without shutdown


def test_shutdown_then_exit_ends_with_code_0_even_during_a_long_generation(started):
    raw = started(maxNewTokens=2000, mode="block")
    raw.open("file:///work/long.py", "def long():\n    ")
    pending = raw.request("textDocument/inlineCompletion", inline_params("file:///work/long.py", 1, 4))
    deadline = time.monotonic() + 60
    while raw.call("codegen/stats")["result"]["max_running"] == 0:  # until the generation is running
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert raw.call("shutdown")["result"] is None
    answer = raw.response(pending)  # exactly one answer: cancelled by shutdown, or done just before it
    assert "error" in answer or "result" in answer
    raw.notify("exit")
    assert exit_code(raw) == 0


def test_server_exits_when_the_editor_process_dies(started):
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        raw = started(process_id=editor.pid)
        raw.open("file:///work/a.py", "x = ")
        assert raw.inline("file:///work/a.py", 0, 4)["result"]["items"]
        assert raw.proc.poll() is None  # stdin stays open: only the watcher can end it
    finally:
        editor.kill()
        editor.wait()
    assert exit_code(raw) != 0
    assert "editor process" in raw.stderr and "gone" in raw.stderr


def test_pid_alive_tells_live_from_dead_and_zombie_processes():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid = child.pid
    deadline = time.monotonic() + EXITS_WITHIN
    while pid_alive(pid) and time.monotonic() < deadline:  # exited but not reaped: a zombie, already gone
        time.sleep(0.05)
    assert not pid_alive(pid)
    child.wait()
    assert not pid_alive(pid)
    assert pid_alive(os.getpid())
