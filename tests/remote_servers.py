"""Real OpenAI-compatible servers on 127.0.0.1 for the remote-engine tests (no mocks).

- `transformers serve` serving the suite's own tiny CodeGen (tests/tiny_model.py): needs the `serving`
  extra of transformers (FastAPI, uvicorn); skipped with a reason when it is missing.
- llama.cpp's `llama-server` (built by scripts/build-llama-server.sh into .tools/, or $LLAMA_SERVER)
  serving a tiny random Llama GGUF that `write_tiny_gguf` writes with the `gguf` package; skipped with
  a reason when the binary is absent.

Each server runs as a child process with its log in a file, so tests can read what the server saw
(llama-server logs `cancel task` when a client goes away) and can stop and start it on the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LLAMA_SERVER = Path(os.environ.get("LLAMA_SERVER", REPO / ".tools" / "llama-server"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server child process on a fixed port, with its output in a log file; stop() and start() again."""

    def __init__(self, command: list[str], port: int, log_path: Path, env: dict | None = None, ready_path="/health"):
        self.command, self.port, self.log_path = command, port, log_path
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.process: subprocess.Popen | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.root}/v1"

    def start(self, timeout: float = 120.0) -> "ServerProcess":
        log = open(self.log_path, "ab")
        # A new session: stop() ends the server and any worker it spawned, and nothing else.
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.root + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.command[0]} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (Linux /proc): it stays flat while the server idles."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# -- transformers serve ----------------------------------------------------------------------------------
def transformers_serve_command(model_dir: Path, port: int) -> list[str]:
    cli = Path(sys.executable).with_name("transformers")
    return [str(cli), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]


def require_transformers_serve() -> None:
    missing = [m for m in ("fastapi", "uvicorn") if not _importable(m)]
    if missing or not Path(sys.executable).with_name("transformers").exists():
        pytest.skip(f'transformers serve needs pip install "transformers[serving]" (missing: {missing or "cli"})')


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def transformers_command_env(model_dir: Path, port: int) -> tuple[list[str], dict]:
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "OMP_NUM_THREADS": "1"}
    return transformers_serve_command(model_dir, port), env


def start_transformers_serve(model_dir: Path, log_dir: Path) -> ServerProcess:
    require_transformers_serve()
    port = free_port()
    command, env = transformers_command_env(model_dir, port)
    return ServerProcess(command, port, log_dir / "transformers-serve.log", env).start()


# -- llama.cpp llama-server ------------------------------------------------------------------------------
def require_llama_server() -> Path:
    if not (LLAMA_SERVER.is_file() and os.access(LLAMA_SERVER, os.X_OK)):
        pytest.skip(f"{LLAMA_SERVER} is absent: build it with scripts/build-llama-server.sh (~6 min on 2 cores)")
    return LLAMA_SERVER


def start_llama_server(gguf_path: Path, log_dir: Path, context: int, extra: list[str] = ()) -> ServerProcess:
    binary = require_llama_server()
    port = free_port()
    command = [
        str(binary), "--model", str(gguf_path), "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", str(context), "--parallel", "1", "--threads", "1", "--alias", "tiny-llama", *extra,
    ]  # fmt: skip
    return ServerProcess(command, port, log_dir / "llama-server.log").start()


# Words the tiny GGUF's vocabulary spells (with every prefix, so SentencePiece merges can reach them).
WORDS = (
    "def return self import from class if else elif for while in not and or None True False print value "
    "result data items index count name path list dict open read write line text main args kwargs"
).split()


def tiny_vocabulary() -> tuple[list[str], list[int], list[float], dict[str, int]]:
    """SentencePiece-style pieces (tokens, types, scores) and the ids of the special ones."""
    import gguf

    types = gguf.TokenType
    pieces: list[tuple[str, int]] = [("<unk>", types.UNKNOWN), ("<s>", types.CONTROL), ("</s>", types.CONTROL)]
    pieces += [("<PRE>", types.CONTROL), ("<SUF>", types.CONTROL), ("<MID>", types.CONTROL)]
    pieces += [(f"<0x{b:02X}>", types.BYTE) for b in range(256)]
    normal = ["▁"] + [chr(c) for c in range(33, 127)]
    for word in WORDS:
        spelled = "▁" + word
        normal += [spelled[:n] for n in range(2, len(spelled) + 1)] + [word]
    normal = list(dict.fromkeys(normal))
    pieces += [(p, types.NORMAL) for p in normal]
    tokens = [p for p, _ in pieces]
    token_types = [int(t) for _, t in pieces]
    scores = [float(len(p)) if t == types.NORMAL else 0.0 for p, t in pieces]  # longer pieces merge first
    ids = {name: tokens.index(name) for name in ("<unk>", "<s>", "</s>", "<PRE>", "<SUF>", "<MID>")}
    return tokens, token_types, scores, ids


def write_tiny_gguf(path: Path, context: int = 32768, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A random 2-layer Llama with FIM tokens, ~0.5 MB, written in well under a second.

    Random weights would emit byte tokens that form invalid UTF-8 (and end-of-text at random). Dimension 0
    of the residual stream is held at a constant positive value (embeddings set it; no layer writes it),
    and the output rows of byte, unknown and control tokens weigh it strongly negative: the model only
    ever writes whole printable pieces and always runs to max_tokens. The large context length matters:
    llama-server caps each slot's context at the GGUF's training context.
    """
    import gguf
    import numpy as np

    tokens, token_types, scores, ids = tiny_vocabulary()
    vocab, ffn, heads = len(tokens), hidden * 2, 4
    rng = np.random.default_rng(seed)

    def random(*shape, scale=0.02):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("codegen-lsp tiny random llama")
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(token_types)
    writer.add_unk_token_id(ids["<unk>"])
    writer.add_bos_token_id(ids["<s>"])
    writer.add_eos_token_id(ids["</s>"])
    writer.add_add_bos_token(True)
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_PRE_ID, ids["<PRE>"])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_SUF_ID, ids["<SUF>"])
    writer.add_uint32(gguf.Keys.Tokenizer.FIM_MID_ID, ids["<MID>"])

    embeddings = rng.standard_normal((vocab, hidden)).astype(np.float32)
    embeddings[:, 0] = 4.0
    output = rng.standard_normal((vocab, hidden)).astype(np.float32)
    output[:, 0] = 0.0
    banned = [i for i, t in enumerate(token_types) if t != gguf.TokenType.NORMAL]
    output[banned, 0] = -30.0
    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for layer in range(layers):
        attn_out, ffn_down = random(hidden, hidden), random(hidden, ffn)
        attn_out[0, :] = 0.0  # no layer writes dimension 0
        ffn_down[0, :] = 0.0
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", random(hidden, hidden, scale=0.2))
        writer.add_tensor(f"{block}.attn_k.weight", random(hidden, hidden, scale=0.2))
        writer.add_tensor(f"{block}.attn_v.weight", random(hidden, hidden, scale=0.2))
        writer.add_tensor(f"{block}.attn_output.weight", attn_out)
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", random(ffn, hidden, scale=0.2))
        writer.add_tensor(f"{block}.ffn_up.weight", random(ffn, hidden, scale=0.2))
        writer.add_tensor(f"{block}.ffn_down.weight", ffn_down)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- fixtures (import them into a test module) -----------------------------------------------------------
LLAMA_CONTEXT = 32768


@pytest.fixture(scope="module")  # stopped once the module's tests are done
def transformers_server(wordy_model_dir, tmp_path_factory):
    """`transformers serve` pinned to the suite's tiny CodeGen that writes long lines of words."""
    server = start_transformers_serve(wordy_model_dir, tmp_path_factory.mktemp("transformers-serve"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf", context=LLAMA_CONTEXT)


@pytest.fixture(scope="module")  # stopped once the module's tests are done
def llama_server(tiny_gguf, tmp_path_factory):
    server = start_llama_server(tiny_gguf, tmp_path_factory.mktemp("llama-server"), LLAMA_CONTEXT)
    yield server
    server.stop()
