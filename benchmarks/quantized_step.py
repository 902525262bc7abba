"""Decode steps of a fast CodeGen model with float32, int8 and int4 weights, interleaved round by round: on
a shared CPU the load drifts over minutes, and interleaving gives each variant the same conditions (a run of
engine.py times its rows one after the other). Random weights of a real shape, timing only.

    python benchmarks/quantized_step.py --shape 350M --rounds 12     # prints ms/token and the ratio to float32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import build_hf_model  # noqa: E402

from codegen_lsp.engines.local.codegen.model import StaticCodeGen  # noqa: E402
from codegen_lsp.engines.local.codegen.weights import weights_from_hf  # noqa: E402
from codegen_lsp.engines.local.codegen.quantize import Quantization, quantizer_for  # noqa: E402
from codegen_lsp.engines.local.codegen.quantized_loading import quantize_weights  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="350M")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=4, help="decode steps per variant per round")
    parser.add_argument("--prompt", type=int, default=64)
    args = parser.parse_args()
    dense = weights_from_hf(build_hf_model(args.shape, "cpu", torch.float32), "cpu", torch.float32)
    models = {"float32": StaticCodeGen(dense)}
    for quantization in (Quantization.INT8, Quantization.INT4):
        models[quantization.value] = StaticCodeGen(quantize_weights(dense, quantizer_for(quantization, "cpu",
                                                                                         torch.float32)))
    prompt = list(range(1, args.prompt + 1))
    for model in models.values():
        model.prefill(prompt)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            model.truncate(len(prompt))
            start = time.perf_counter()
            for t in range(args.steps):
                model.step(t + 1)
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    base = statistics.median(times["float32"])
    print(f"{args.shape}, CPU ({torch.get_num_threads()} threads), torch {torch.__version__}; median of "
          f"{args.rounds} rounds of {args.steps} steps after a {args.prompt}-token prompt\n")
    print("| weights | weight GB | decode ms/token | × float32 |\n|---|---|---|---|")
    for name, samples in times.items():
        ms = statistics.median(samples)
        print(f"| {name} | {models[name].w.nbytes() / 1e9:.2f} | {ms:.1f} | {ms / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
