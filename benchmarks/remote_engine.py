"""The remote engine against real servers on 127.0.0.1, side by side in one run:

- streamed completion through the engine vs the same request sent plainly (non-streamed) with httpx:
  what streaming, stop checks and cancellation cost;
- cancellation: how long `generate` takes to return once the cancel token is set mid-stream;
- a short follow-up request right after cancelling a long generation vs the same request on an idle
  server: about 1x means the server stopped generating when the stream closed.

    python benchmarks/remote_engine.py                       # transformers serve (+ llama-server when built)
    python benchmarks/remote_engine.py --servers llama --runs 20

transformers serve serves ../shared/models/pycodegen-tiny when present (else the suite's tiny random
CodeGen); llama-server serves the suite's tiny random GGUF. Prints a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from codegen_lsp.engines.base import CancelToken, GenerationRequest  # noqa: E402
from codegen_lsp.engines.config import RemoteConfig  # noqa: E402
from codegen_lsp.engines.remote.engine import OpenAIEngine  # noqa: E402
from codegen_lsp.settings import Settings  # noqa: E402
from remote_servers import LLAMA_SERVER, start_llama_server, start_transformers_serve, write_tiny_gguf  # noqa: E402

SHARED_MODEL = ROOT.parent / "shared" / "models" / "pycodegen-tiny"
PROMPT = "import os\n\n\ndef read_lines(path):\n    "


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(server, model: str | None, tokenizer_dir: str | None, runs: int, new_tokens: int, long_tokens: int) -> dict:
    settings = Settings(api_base=server.api_base, api_model=model, **({"model": tokenizer_dir} if tokenizer_dir else {}))
    engine = OpenAIEngine(RemoteConfig.from_settings(settings))
    engine.load(lambda message, percentage: None)
    name = engine.model_name
    request = GenerationRequest(prompt=PROMPT, max_new_tokens=new_tokens)
    body = {"model": name, "prompt": PROMPT, "max_tokens": new_tokens, "temperature": 0.0}

    client = httpx.Client(timeout=120)  # one client, like the engine's: connection reuse on both sides

    def plain() -> None:
        client.post(f"{server.api_base}/completions", json=body).raise_for_status()

    def streamed() -> None:
        engine.generate(request, CancelToken())

    plain(), streamed()  # warm both paths
    plain_s = [timed(plain) for _ in range(runs)]
    stream_s = [timed(streamed) for _ in range(runs)]

    follow_up = GenerationRequest(prompt="x = ", max_new_tokens=4)
    idle_s = [timed(lambda: engine.generate(follow_up, CancelToken())) for _ in range(runs)]
    cancel_return_s, after_cancel_s, chunks_before_cancel = [], [], []
    for _ in range(runs):
        cancel, cancelled_at, seen = CancelToken(), [], []

        def cancel_after_three(text: str) -> bool:
            seen.append(text)
            if len(seen) == 3:
                cancelled_at.append(time.perf_counter())
                threading.Thread(target=cancel.cancel).start()
            return False

        result = engine.generate(GenerationRequest(prompt=PROMPT, max_new_tokens=long_tokens), cancel, cancel_after_three)
        returned = time.perf_counter()
        if result.finish_reason != "cancelled" or not cancelled_at:
            raise RuntimeError(f"the long generation was not cancelled: {result}")
        cancel_return_s.append(returned - cancelled_at[0])
        chunks_before_cancel.append(result.generated_tokens)
        after_cancel_s.append(timed(lambda: engine.generate(follow_up, CancelToken())))
    engine.close()
    client.close()
    return {
        "model": name,
        "tokens": engine.count_tokens(PROMPT),
        "plain_ms": median_ms(plain_s),
        "stream_ms": median_ms(stream_s),
        "cancel_return_ms": median_ms(cancel_return_s),
        "idle_follow_up_ms": median_ms(idle_s),
        "after_cancel_ms": median_ms(after_cancel_s),
        "chunks_before_cancel": statistics.median(chunks_before_cancel),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="transformers,llama", help="comma-separated: transformers, llama")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--new", type=int, default=16, help="tokens per measured completion")
    parser.add_argument("--long", type=int, default=1000, help="tokens asked for by the generation that is cancelled")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.servers.split(","):
            if kind == "transformers":
                model_dir = SHARED_MODEL if (SHARED_MODEL / "config.json").is_file() else None
                if model_dir is None:
                    from tiny_model import build_tiny_model

                    model_dir = build_tiny_model(tmp / "tiny", word_bias=True)
                server = start_transformers_serve(model_dir, tmp)
                label, tokenizer_dir = f"transformers serve ({model_dir.name})", str(model_dir)
            elif kind == "llama":
                if not LLAMA_SERVER.is_file():
                    print(f"skipping llama-server: {LLAMA_SERVER} is absent", file=sys.stderr)
                    continue
                server = start_llama_server(write_tiny_gguf(tmp / "tiny.gguf"), tmp, 32768)
                label, tokenizer_dir = "llama-server (tiny random GGUF)", None
            else:
                raise SystemExit(f"unknown server {kind!r}")
            try:
                rows.append((label, measure(server, None, tokenizer_dir, args.runs, args.new, args.long)))
            finally:
                server.stop()
    print(f"median of {args.runs} runs; {args.new}-token completions; cancel after 3 chunks of a {args.long}-token request\n")
    print("| server | plain request ms | streamed via engine ms | cancel → return ms | follow-up idle ms | follow-up after cancel ms |")
    print("|---|---|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {r['plain_ms']:.1f} | {r['stream_ms']:.1f} | {r['cancel_return_ms']:.1f} | "
            f"{r['idle_follow_up_ms']:.1f} | {r['after_cancel_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
