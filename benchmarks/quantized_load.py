"""The quantizing loader's memory: a CodeGen checkpoint of a real shape (random weights, saved as safetensors
in the dtype) loaded by the fast engine's `quantize` path, each load in its own process, with the peak host
memory (ru_maxrss) and, on CUDA, the peak GPU memory during the load, beside the checkpoint's size and the
quantized weights' size. The loader reads one layer at a time, so both peaks should stay near the
quantized size (plus one dense layer), far below the checkpoint.

    python benchmarks/quantized_load.py --shape 350M --device cpu               # ~1.4 GB checkpoint (float32)
    python benchmarks/quantized_load.py --shape 2B --device cuda --dtype float16  # 5.6 GB checkpoint
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def save_random_checkpoint(shape: str, dtype: str, directory: Path) -> int:
    """config.json and model-*.safetensors shards (2 GB) of random weights of the shape: the state dict's
    names and shapes come from a model built on the meta device (no init work), the values from randn."""
    import torch
    from safetensors.torch import save_file
    from transformers import CodeGenConfig, CodeGenForCausalLM

    from engine import SHAPES

    n_layer, n_embd, n_head, rotary_dim = SHAPES[shape]
    config = CodeGenConfig(vocab_size=51200, n_positions=2048, n_ctx=2048, n_layer=n_layer, n_embd=n_embd,
                           n_head=n_head, rotary_dim=rotary_dim, bos_token_id=50256, eos_token_id=50256)
    with torch.device("meta"):
        names = {k: v.shape for k, v in CodeGenForCausalLM(config).state_dict().items()}
    config.save_pretrained(directory)
    shard, shard_bytes, index, total = {}, 0, {}, 0

    def flush() -> None:
        nonlocal shard, shard_bytes
        name = f"model-{len(set(index.values())) + 1:05d}.safetensors"
        save_file(shard, str(directory / name), metadata={"format": "pt"})
        index.update(dict.fromkeys(shard, name))
        shard, shard_bytes = {}, 0

    for name, tensor_shape in names.items():
        tensor = (torch.randn(tensor_shape) * 0.02).to(getattr(torch, dtype))
        shard[name], shard_bytes, total = tensor, shard_bytes + tensor.nbytes, total + tensor.nbytes
        if shard_bytes >= 2_000_000_000:
            flush()
    if shard:
        flush()
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                        "weight_map": index}))
    return sum(f.stat().st_size for f in directory.glob("*.safetensors"))


def rss_anon_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))


class AnonPeak:
    """The process's peak anonymous resident memory, sampled every 20 ms (ru_maxrss also counts the
    memory-mapped checkpoint pages the loader touched, which the kernel can drop at any time)."""

    def __init__(self) -> None:
        import threading

        self.peak = rss_anon_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_anon_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_anon_bytes())


def load_once(directory: str, device: str, dtype: str, quantize: str) -> dict:
    """In a fresh process: load through the engine's quantized path; peaks and sizes."""
    import torch
    from transformers import AutoConfig

    from codegen_lsp.engines.local.codegen.quantize import Quantization
    from codegen_lsp.engines.local.codegen.quantized_loading import load_quantized_weights

    before = rss_anon_bytes()  # torch, transformers and the interpreter
    anon = AnonPeak()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    weights = load_quantized_weights(directory, AutoConfig.from_pretrained(directory), device, getattr(torch, dtype),
                                     Quantization(quantize), lambda message, pct: None)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    row = {"quantize": quantize, "load_s": time.perf_counter() - start, "weights_gb": weights.nbytes() / 1e9,
           "host_peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
           "anon_before_gb": before / 1e9, "anon_peak_gb": anon.stop() / 1e9}
    if device.startswith("cuda"):
        row["gpu_peak_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="350M")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--quantize", default="int8,int4")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # directory device dtype quantize
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load_once(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        started = time.perf_counter()
        size = save_random_checkpoint(args.shape, args.dtype, Path(tmp))
        print(f"{args.shape} checkpoint: {size / 1e9:.2f} GB of safetensors ({args.dtype}), written in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        rows = []
        for quantize in args.quantize.split(","):
            done = subprocess.run([sys.executable, __file__, "--child", tmp, args.device, args.dtype, quantize],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                rows.append({"quantize": quantize, "error": f"exit {done.returncode}"})
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{args.shape} on {args.device}, checkpoint {size / 1e9:.2f} GB ({args.dtype} safetensors)\n")
    print("| quantize | load s | quantized weights GB | host anonymous memory GB: before load → peak | "
          "peak RSS GB (with mapped checkpoint pages) | peak GPU memory GB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['quantize']} | failed: {r['error']} | | | | |")
            continue
        gpu = f"{r['gpu_peak_gb']:.2f}" if "gpu_peak_gb" in r else "–"
        print(f"| {r['quantize']} | {r['load_s']:.1f} | {r['weights_gb']:.2f} | {r['anon_before_gb']:.2f} → "
              f"{r['anon_peak_gb']:.2f} | {r['host_peak_gb']:.2f} | {gpu} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
