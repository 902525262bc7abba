"""The fast engine end to end on a real checkpoint: same text as the transformers engine, sampling
deterministic with a seed, cancellation latency, and completion time through `Engine.generate`.

    python benchmarks/engine_e2e.py --model ../shared/models/pycodegen-tiny --device cuda
    python benchmarks/engine_e2e.py --device cpu            # builds the tiny random test model

Needs no pygls (it runs on the GPU machine): it imports only the engines.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from codegen_lsp.engines.base import CancelToken, GenerationRequest  # noqa: E402
from codegen_lsp.settings import Settings  # noqa: E402

PROMPTS = [
    "import os\n\n\ndef list_python_files(root):\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "import json\n\n\ndef load_config(path):\n    with open(path) as f:\n        ",
]


def load(kind: str, model: str, device: str, dtype: str):
    from codegen_lsp.engines import create_engine

    engine = create_engine(Settings(model=model, device=device, dtype=dtype, engine=kind))
    start = time.perf_counter()
    engine.load(lambda message, percent: None)
    return engine, time.perf_counter() - start


def timed_generate(engine, request: GenerationRequest):
    start = time.perf_counter()
    result = engine.generate(request, CancelToken())
    return result, (time.perf_counter() - start) * 1000


def cancel_latency_ms(engine, after_s: float = 0.05) -> tuple[float, str, int]:
    """Cancel a long generation from another thread; how long until generate() returns."""
    token, done = CancelToken(), {}
    request = GenerationRequest(prompt=PROMPTS[0], max_new_tokens=1024)

    def run():
        done["result"] = engine.generate(request, token)
        done["at"] = time.perf_counter()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(after_s)
    cancelled_at = time.perf_counter()
    token.cancel()
    thread.join()
    result = done["result"]
    return (done["at"] - cancelled_at) * 1000, result.finish_reason, result.generated_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="checkpoint directory (default: build the tiny random test model)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", default="float32,float16")
    parser.add_argument("--new", type=int, default=48)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("codegen_lsp").setLevel(logging.INFO)  # the fast engine logs its attention choice
    model = args.model
    if model is None:
        from tiny_model import build_tiny_model

        model = str(build_tiny_model(tempfile.mkdtemp(prefix="tiny-codegen-")))
    lines = [f"model {model}, device {args.device}", "",
             "| dtype | same greedy text (fast vs transformers) | transformers ms | fast ms | seeded sampling repeats | cancel → return ms (finish, tokens) | load s (tf / fast) |",
             "|---|---|---|---|---|---|---|"]
    for dtype in args.dtypes.split(","):
        reference, load_tf = load("transformers", model, args.device, dtype)
        fast, load_fast = load("fast", model, args.device, dtype)
        same, tf_ms, fast_ms = 0, [], []
        for prompt in PROMPTS:
            request = GenerationRequest(prompt=prompt, max_new_tokens=args.new)
            timed_generate(reference, request), timed_generate(fast, request)  # warm-up, and the cache
            a, ta = timed_generate(reference, request)
            b, tb = timed_generate(fast, request)
            same += a.text == b.text
            tf_ms.append(ta)
            fast_ms.append(tb)
            if a.text != b.text:
                print(f"[{dtype}] differs for {prompt!r}:\n  transformers {a.text!r}\n  fast         {b.text!r}", file=sys.stderr)
        sampled = GenerationRequest(prompt=PROMPTS[2], max_new_tokens=args.new, temperature=0.8, seed=7)
        repeats = fast.generate(sampled, CancelToken()).text == fast.generate(sampled, CancelToken()).text
        latency, finish, tokens = cancel_latency_ms(fast)
        lines.append(
            f"| {dtype} | {same}/{len(PROMPTS)} | {statistics.median(tf_ms):.1f} | {statistics.median(fast_ms):.1f} "
            f"| {repeats} | {latency:.1f} ({finish}, {tokens}) | {load_tf:.1f} / {load_fast:.1f} |"
        )
        reference.close()
        fast.close()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
