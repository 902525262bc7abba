"""Security: loopback by default, no remote code unless asked, no network calls but the download the user
asked for, no source code in the logs at the default level, and no file touched because a URI named it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen_lsp.cli import build_parser, is_loopback, settings_from_args
from codegen_lsp.completion import Completer
from codegen_lsp.settings import Settings, parse_settings
from raw_lsp import RawServer, frame, inline_params

AUDITED_SERVER = [sys.executable, str(Path(__file__).with_name("audited_server.py")), "--stdio"]
MARKER = "UNIQUE_SOURCE_MARKER_5f2c9e"


def audit_lines(raw: RawServer, kind: str) -> list[str]:
    return [line for line in raw.stderr.splitlines() if line.startswith(f"AUDIT {kind}")]


# -- TCP ---------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_tcp_listens_on_loopback_only_by_default():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "codegen_lsp", "--tcp", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not listening_addresses(port) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    finally:
        proc.kill()
        proc.wait()


def test_tcp_on_another_address_warns_loudly():
    # 192.0.2.1 (TEST-NET-1) is never ours: the warning comes first, then the bind fails and the process ends.
    proc = subprocess.run(
        [sys.executable, "-m", "codegen_lsp", "--tcp", "--host", "192.0.2.1", "--port", str(free_port())],
        capture_output=True, text=True, timeout=120,
    )
    assert "WARNING" in proc.stderr and "LISTENING ON 192.0.2.1" in proc.stderr
    assert "no authentication" in proc.stderr


def test_default_host_is_loopback_and_only_loopback_counts():
    assert build_parser().parse_args(["--tcp"]).host == "127.0.0.1"
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.8.9.10"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "example.com", ""))


# -- trust_remote_code ---------------------------------------------------------------------------------------------
REMOTE_CODE = """
from pathlib import Path
Path({flag!r}).write_text("checkpoint code ran")  # transformers runs a copy elsewhere: an absolute path
from transformers import PretrainedConfig

class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


def checkpoint_with_code(tmp: Path, flag: str, tokenizer_from: Path) -> Path:
    """A checkpoint whose config needs its own code; a working tokenizer, so loading reaches the config."""
    model = tmp / "remote-code-model"
    model.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, model / name)
    (model / "configuration_evil.py").write_text(REMOTE_CODE.format(flag=str(model / flag)))
    (model / "config.json").write_text(
        '{"model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}'
    )
    return model


def test_trust_remote_code_is_off_unless_set():
    assert Settings().trust_remote_code is False
    assert settings_from_args(build_parser().parse_args([]))[0].trust_remote_code is False
    assert settings_from_args(build_parser().parse_args(["--trust-remote-code"]))[0].trust_remote_code is True


@pytest.mark.parametrize("trust", [False, True])
async def test_checkpoint_code_runs_only_when_trusted(tmp_path, trust, wordy_model_dir):
    """A checkpoint that ships Python: loading it must not run that code unless trust_remote_code is set."""
    flag = f"ran-{trust}"
    model = checkpoint_with_code(tmp_path, flag, wordy_model_dir)
    settings, _ = parse_settings({"model": str(model), "device": "cpu", "engine": "transformers",
                                  "trustRemoteCode": trust})
    completer = Completer(settings)
    try:
        assert not await completer.load(lambda message, pct: None)  # no weights: it fails either way
    finally:
        completer.close()
    assert (model / flag).exists() == trust
    if not trust:
        assert "trustRemoteCode" in completer.error  # refused for that reason, and the user is told how


# -- network -------------------------------------------------------------------------------------------------------
def session(raw: RawServer, model: str, **options) -> dict:
    raw.initialize({"model": model, "device": "cpu", "maxNewTokens": 4, **options})
    status = raw.wait_until_loaded(timeout=120)
    raw.open("file:///work/net.py", "import os\nname = ")
    assert "result" in raw.inline("file:///work/net.py", 1, 7)
    return status


def test_offline_mode_is_honoured_for_a_hub_id(tmp_path):
    raw = RawServer(AUDITED_SERVER, env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf-home")})
    try:
        status = session(raw, "Salesforce/codegen-350M-mono")
    finally:
        assert raw.close() == 0
    assert status["state"] == "failed" and "HF_HUB_OFFLINE" in status["error"]
    assert audit_lines(raw, "network") == []


def test_the_audit_sees_a_connection_the_user_asked_for():
    """Control: the audit hook does see network calls (here to a remote engine the settings name on loopback)."""
    raw = RawServer(AUDITED_SERVER)
    try:
        raw.initialize({"apiBase": f"http://127.0.0.1:{free_port()}/v1", "engine": "openai", "model": "m"})
        raw.wait_until_loaded(timeout=60)
    finally:
        raw.close()
    assert audit_lines(raw, "network")


# -- logs and files ------------------------------------------------------------------------------------------------
def test_logs_hold_no_source_code_at_the_default_level(wordy_model_dir, tmp_path):
    raw = RawServer()  # the default log level: no --log-level flag
    uri = "file:///work/private.py"
    try:
        raw.initialize({"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4})
        assert raw.wait_until_loaded()["state"] == "ready"
        raw.open(uri, f"{MARKER} = 1\nvalue = ")
        raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 8}}, "text": f"{MARKER}_2 + "}]})
        assert "result" in raw.inline(uri, 1, 8 + len(MARKER) + 5)
        # Bad messages that carry source code must not echo it either.
        raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": "x"},
                                              "contentChanges": [{"text": MARKER}]})
        raw.notify("textDocument/didChange", {"textDocument": {"uri": "file:///not/open.py", "version": 2},
                                              "contentChanges": [{"text": MARKER}]})
        raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [
            {"range": {"start": {"line": 99, "character": 0}, "end": {"line": 0, "character": 0}}, "text": MARKER}]})
        raw.send_bytes(frame(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"text": "' +
                             MARKER.encode() + b'"'))
        bad = raw.request("textDocument/inlineCompletion", {**inline_params(uri, 0, 0), "context": MARKER})
        assert "error" in raw.response(bad)
        assert "result" in raw.inline(uri, 0, 3)
    finally:
        assert raw.close() == 0
    assert "didChange" in raw.stderr  # the bad edits were logged ...
    assert MARKER not in raw.stderr  # ... without the code they carried


def test_a_uri_never_makes_the_server_read_or_write_a_file_nor_call_the_network(wordy_model_dir, tmp_path):
    """A whole session with a local model, online (HF_HUB_OFFLINE=0): no network call, no file named by a URI."""
    secret = tmp_path / "secret.py"
    secret.write_text(f"{MARKER} = 'on disk only'\n")
    opened = tmp_path / "opened.py"
    opened.write_text("ON_DISK = 1\n")
    raw = RawServer(AUDITED_SERVER, env={"AUDIT_WATCH_DIR": str(tmp_path), "HF_HUB_OFFLINE": "0"})
    try:
        raw.initialize({"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 4})
        assert raw.wait_until_loaded()["state"] == "ready"
        for uri in (secret.as_uri(), secret.as_uri().replace("/secret.py", "/x/../secret.py")):
            assert raw.inline(uri, 0, 3)["result"]["items"] == []
            assert raw.call("codegen/documentText", {"uri": uri})["result"]["text"] is None
        raw.notify("textDocument/didChange", {"textDocument": {"uri": secret.as_uri(), "version": 2},
                                              "contentChanges": [{"text": "overwritten = 1\n"}]})
        raw.open(opened.as_uri(), "in_the_editor = ")
        assert "result" in raw.inline(opened.as_uri(), 0, 16)
        raw.notify("textDocument/didClose", {"textDocument": {"uri": opened.as_uri()}})
        assert raw.inline(opened.as_uri(), 0, 3)["result"]["items"] == []
    finally:
        assert raw.close() == 0
    assert audit_lines(raw, "open") == [] and audit_lines(raw, "network") == []
    assert secret.read_text() == f"{MARKER} = 'on disk only'\n" and opened.read_text() == "ON_DISK = 1\n"
