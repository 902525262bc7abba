"""CodeGen without a GPU: both engines, each thread count, and what `engine: auto` picks, interleaved in one run.

A shared or busy CPU swings several times between runs, so every variant is measured once per round, the rounds
alternate the variants, and the table gives each variant's median over the rounds and its ratio to today's auto
(the transformers engine with torch's default threads, one per logical CPU). Per variant: prefill of a cold
prompt, decode ms/token, and the keystroke: the prompt is cached, 16 tokens are appended, 16 tokens are generated
(what a keystroke costs the engine). Random weights of the real shapes: timing only, the text is noise.

Variants: `transformers` and `fast` at each --threads count; `auto`: the engine and the thread count the server
chooses on this machine (engines/config.choose_engine; engines/local/cpu.FreeCoreThreads, from the load over the
second before the run: the server chooses again before each generation, see typing_replay.py --busy); `today's auto`;
and with --fast-extras, the fast engine with bfloat16 weights (bf16) or int8 weights (int8, float32 activations
with bfloat16 products), at the auto thread count. Each extra row also gives one verification of 1 + 4 tokens
(prompt lookup's speculation) as a multiple of one decode step.

    OMP_NUM_THREADS=1 python benchmarks/cpu.py --shapes small,350M --threads 1,2 --rounds 3
    python benchmarks/cpu.py --shapes 350M --fast-extras bf16,int8
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import SHAPES, HFBaseline, build_hf_model, greedy_loop, host_argmax  # noqa: E402

from codegen_lsp.engines.config import EngineKind, choose_engine  # noqa: E402
from codegen_lsp.engines.local.codegen.model import StaticCodeGen  # noqa: E402
from codegen_lsp.engines.local.codegen.weights import weights_from_hf  # noqa: E402
from codegen_lsp.engines.local.codegen.quantize import Quantization, quantizer_for  # noqa: E402
from codegen_lsp.engines.local.codegen.quantized_loading import quantize_weights  # noqa: E402
from codegen_lsp.engines.local.cpu import CpuCores, FreeCoreThreads, OtherLoad, fixed_threads  # noqa: E402
from codegen_lsp.settings import Settings  # noqa: E402

DRAFT = 4  # prompt lookup's default draftTokens: a verification runs 1 + 4 tokens


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


@dataclass
class Variant:
    name: str
    engine: str  # "transformers" | "fast"
    threads: int
    model: object  # HFBaseline or StaticCodeGen
    times: dict[str, list[float]] = field(default_factory=dict)
    alias: bool = False  # the same engine and threads as another variant: its times, not measured again

    def record(self, metric: str, ms: float) -> None:
        self.times.setdefault(metric, []).append(ms)

    def median(self, metric: str) -> float | None:
        values = self.times.get(metric)
        return statistics.median(values) if values else None


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure_once(variant: Variant, prompt: list[int], extension: list[int], args) -> None:
    """One round of this variant: cold prefill, decode steps, the keystroke (and a verification for the fast engine)."""
    torch.set_num_threads(variant.threads)
    model = variant.model
    fast = isinstance(model, StaticCodeGen)

    def cold():
        if fast:
            model.reset()
            return model.prefill(prompt)[0]
        return model.prefill(prompt)

    def extend():
        if fast:
            return model.prefill(extension)[0]
        return model.prefill(extension, extend=True)

    def read(logits):
        return int(model.greedy_token) if fast and model.greedy_token is not None else host_argmax(logits)

    variant.record("prefill", timed(cold))
    variant.record("decode", timed(lambda: [model.step(t + 1) for t in range(args.steps)]) / args.steps)
    cold()  # the prompt is cached; the keystroke appends to it
    variant.record("keystroke", timed(lambda: greedy_loop(extend(), model.step, args.new, read=read)))
    if fast:
        model.reset()
        model.prefill(prompt)
        held = len(prompt)
        step = timed(lambda: model.step(1))
        model.truncate(held)
        verify = timed(lambda: model.verify(list(range(1, DRAFT + 2))))
        model.truncate(held)
        variant.record("verify / step", verify / step)


def build_variants(shape: str, args, auto_engine: str, auto_threads: int, today_threads: int) -> list[Variant]:
    """Two copies of the same random weights: one stays a transformers model, the other becomes the fast engine's."""
    hf = HFBaseline(build_hf_model(shape, "cpu", torch.float32), "cpu")
    weights = weights_from_hf(build_hf_model(shape, "cpu", torch.float32), "cpu", torch.float32)
    fast = StaticCodeGen(weights, verify_width=DRAFT + 1)
    by_engine = {"transformers": hf, "fast": fast}
    variants = [Variant(f"{engine}, {t} thread{'s' * (t > 1)}", engine, t, by_engine[engine])
                for t in args.threads for engine in ("transformers", "fast")]
    for name, engine, threads in ((f"today's auto (transformers, {today_threads} threads)", "transformers", today_threads),
                                  (f"auto ({auto_engine}, {auto_threads} thread{'s' * (auto_threads > 1)})", auto_engine,
                                   auto_threads)):
        same = next((v for v in variants if (v.engine, v.threads) == (engine, threads)), None)
        # The same engine and thread count as a row above: the same measurements (alias), not timed twice.
        variants.append(Variant(name, engine, threads, by_engine[engine], same.times if same else {}, alias=same is not None))
    for extra in args.fast_extras:
        if extra == "bf16":
            dense = weights_from_hf(build_hf_model(shape, "cpu", torch.bfloat16), "cpu", torch.bfloat16)
            model = StaticCodeGen(dense, verify_width=DRAFT + 1)
        elif extra == "int8":
            model = StaticCodeGen(quantize_weights(weights, quantizer_for(Quantization.INT8, "cpu", torch.float32)),
                                  verify_width=DRAFT + 1)
        else:
            raise SystemExit(f"unknown --fast-extras value {extra!r} (bf16, int8)")
        variants.append(Variant(f"fast {extra}, {auto_threads} thread{'s' * (auto_threads > 1)}", "fast", auto_threads, model))
    return variants


def run_shape(shape: str, args, auto_engine: str, auto_threads: int, today_threads: int) -> list[Variant]:
    log(f"[{shape}] building random weights")
    variants = build_variants(shape, args, auto_engine, auto_threads, today_threads)
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 50000, (args.prompt,), generator=generator).tolist()
    extension = prompt + torch.randint(0, 50000, (args.extend,), generator=generator).tolist()
    measured = [v for v in variants if not v.alias]
    with torch.inference_mode():
        for v in measured:  # warm-up, untimed: a short prompt through each
            torch.set_num_threads(v.threads)
            greedy_loop(v.model.prefill(prompt[:16])[0] if v.engine == "fast" else v.model.prefill(prompt[:16]),
                        v.model.step, 2)
        for round_ in range(args.rounds):
            order = measured if round_ % 2 == 0 else measured[::-1]  # alternate, so no variant always goes first
            for v in order:
                measure_once(v, prompt, extension, args)
            log(f"[{shape}] round {round_ + 1}/{args.rounds}: " + "; ".join(
                f"{v.name} {v.times['keystroke'][-1]:.0f} ms" for v in variants))
    for v in variants:
        v.model = None
    gc.collect()
    return variants


def markdown(shape_rows: dict[str, list[Variant]], args) -> str:
    lines = [
        f"| shape | variant | prefill {args.prompt} ms | decode ms/token | keystroke: +{args.extend} then {args.new} "
        f"tokens, ms | keystroke vs today's auto | verify 1+{DRAFT} / step |",
        "|---|---|---|---|---|---|---|",
    ]
    for shape, variants in shape_rows.items():
        today = next(v for v in variants if v.name.startswith("today's auto")).median("keystroke")
        for v in variants:
            ks = v.median("keystroke")
            verify = v.median("verify / step")
            lines.append(f"| {shape} | {v.name} | {v.median('prefill'):.0f} | {v.median('decode'):.2f} | {ks:.0f} "
                         f"| {today / ks:.2f}× faster | {'–' if verify is None else f'{verify:.2f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="small,350M", help=f"comma list of {','.join(SHAPES)}")
    parser.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    parser.add_argument("--fast-extras", default="", help="comma list of bf16, int8: more fast-engine rows")
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--extend", type=int, default=16)
    parser.add_argument("--new", type=int, default=16)
    parser.add_argument("--steps", type=int, default=16, help="decode steps timed for ms/token")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.fast_extras = [e for e in args.fast_extras.split(",") if e]
    cores = CpuCores.of_this_process()
    # What the server picks here for a CodeGen checkpoint on this CPU, and what it picked before (torch's default).
    auto_engine = str(choose_engine(Settings(model="Salesforce/codegen-350M-mono", device="cpu")))
    auto_engine = "fast" if auto_engine == EngineKind.FAST else "transformers"
    auto_threads = fixed_threads(0, cores)
    if auto_threads is None:
        load = OtherLoad(cores.cpus)
        time.sleep(1.0)
        auto_threads = FreeCoreThreads(cores, load).choose()
    today_threads = cores.logical
    import transformers

    print(f"CPU: {cores.logical} logical CPUs, {cores.physical} physical cores free to this process "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), torch {torch.__version__} "
          f"({torch.backends.cpu.get_cpu_capability()}), transformers {transformers.__version__}; float32 unless named; "
          f"median of {args.rounds} interleaved rounds; random weights (timing only)\n", flush=True)
    for shape in args.shapes.split(","):  # each shape's table as soon as it is done
        print(markdown({shape: run_shape(shape, args, auto_engine, auto_threads, today_threads)}, args) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
