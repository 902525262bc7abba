"""The transformers engine on today's code-model families: its eager dynamic path against its static plan
(StaticCache, the forward compiled per token-count bucket, CUDA graphs on a GPU), same run, same weights.

For each family shape (random weights: timing only), with the engine's own token models (HFTokenModel,
StaticTokenModel) over one transformers model, variants interleaved rep by rep:
- decode ms/token: steps after a cached prompt;
- keystroke ms: the cached prompt extended by 16 tokens (prefix reuse), then 32 greedy tokens;
- compile s: the static plan's compile at load (every bucket, as the engine does);
- on CUDA, the memory floor (weight bytes over the measured copy bandwidth) and decode / floor.

    python benchmarks/engine.py --families --device cpu --shapes llama-small,qwen2-small,starcoder2-small
    python benchmarks/engine.py --families --shapes qwen2-1.5B,qwen2-7B --dtype bfloat16   # GPU, target <= 1.5x floor
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine import copy_bandwidth, greedy_loop, log, median_ms, sync  # noqa: E402
from codegen_lsp.engines.local.static_model import StaticTokenModel  # noqa: E402
from codegen_lsp.engines.local.static_plan import STATIC_WINDOW, choose_plan  # noqa: E402
from codegen_lsp.engines.local.transformers_engine import HFTokenModel  # noqa: E402

# family, then the config's own fields. Real shapes: Qwen2.5-Coder-1.5B/7B, StarCoder2-3B/7B, DeepSeek-Coder-1.3B
# and CodeLlama-7B (Llama); "-small" shapes are for a CPU.
FAMILY_SHAPES = {
    "llama-small": ("llama", dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=8, num_key_value_heads=4,
                                  intermediate_size=688, vocab_size=32256)),
    "qwen2-small": ("qwen2", dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=8, num_key_value_heads=2,
                                  intermediate_size=1408, vocab_size=151936, tie_word_embeddings=True)),
    "starcoder2-small": ("starcoder2", dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=8,
                                            num_key_value_heads=2, intermediate_size=1024, vocab_size=49152)),
    "llama-1.3B": ("llama", dict(num_hidden_layers=24, hidden_size=2048, num_attention_heads=16, num_key_value_heads=16,
                                 intermediate_size=5504, vocab_size=32256)),
    "qwen2-1.5B": ("qwen2", dict(num_hidden_layers=28, hidden_size=1536, num_attention_heads=12, num_key_value_heads=2,
                                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True)),
    "starcoder2-3B": ("starcoder2", dict(num_hidden_layers=30, hidden_size=3072, num_attention_heads=24,
                                         num_key_value_heads=2, intermediate_size=12288, vocab_size=49152)),
    "llama-7B": ("llama", dict(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, num_key_value_heads=32,
                               intermediate_size=11008, vocab_size=32016)),
    "qwen2-7B": ("qwen2", dict(num_hidden_layers=28, hidden_size=3584, num_attention_heads=28, num_key_value_heads=4,
                               intermediate_size=18944, vocab_size=152064)),
    "starcoder2-7B": ("starcoder2", dict(num_hidden_layers=32, hidden_size=4608, num_attention_heads=36,
                                         num_key_value_heads=4, intermediate_size=18432, vocab_size=49152)),
}
CLASSES = {"llama": ("LlamaConfig", "LlamaForCausalLM"), "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
           "starcoder2": ("Starcoder2Config", "Starcoder2ForCausalLM")}


def build_family_model(shape: str, device: str, dtype: torch.dtype, seed: int = 0):
    """A model of the shape with random weights, created directly on the device."""
    import transformers

    family, fields = FAMILY_SHAPES[shape]
    config_name, model_name = CLASSES[family]
    config = getattr(transformers, config_name)(max_position_embeddings=16384, bos_token_id=0, eos_token_id=0, **fields)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = getattr(transformers, model_name)(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def time_variant(token_model, prompt: list[int], extension: list[int], args, device: str) -> dict:
    """decode ms/token after the cached prompt, and the keystroke: prompt + extension (reused), 32 new tokens."""
    def cached():
        token_model.prefill(prompt)

    def steps():
        logits = token_model.step(prompt[-1])
        for _ in range(args.steps - 1):
            logits = token_model.step(int(torch.argmax(logits)))

    def keystroke():
        logits, reused = token_model.prefill(prompt + extension)
        assert reused == len(prompt), (reused, len(prompt))
        greedy_loop(logits, token_model.step, args.new)

    return {
        "decode_ms_per_token": median_ms(steps, device, args.reps, setup=cached) / args.steps,
        "keystroke_ms": median_ms(keystroke, device, args.reps, setup=cached),
    }


def run_shape(shape: str, args, device: str, dtype: torch.dtype, bandwidth: float | None) -> list[dict]:
    model = build_family_model(shape, device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(1, vocab, (args.prompt,), generator=generator).tolist()
    extension = torch.randint(1, vocab, (args.extend,), generator=generator).tolist()
    variants = {"dynamic (eager)": HFTokenModel(model, device, slots=1, window=args.prompt + args.extend + args.new + 8)}
    plan = replace(choose_plan("static", device, prefill_buckets=tuple(args.buckets)), window=args.window)
    start = time.perf_counter()
    static = StaticTokenModel(model, device, 1, plan)
    compile_s = static.compile_all(lambda message: log(f"{shape}: {message}"))
    log(f"{shape}: compiled in {time.perf_counter() - start:.1f} s")
    variants[plan.name] = static
    timings = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved: a busy machine slows both alike
        for name, token_model in variants.items():
            timings[name].append(time_variant(token_model, prompt, extension, args, device))
    floor_ms = weight_bytes / bandwidth * 1000 if bandwidth else None
    rows = []
    for name, results in timings.items():
        decode = sorted(r["decode_ms_per_token"] for r in results)[len(results) // 2]
        keystroke = sorted(r["keystroke_ms"] for r in results)[len(results) // 2]
        rows.append(dict(shape=shape, variant=name, params_m=round(weight_bytes / dtype.itemsize / 1e6, 1),
                         decode_ms_per_token=decode, keystroke_ms=keystroke,
                         compile_s=compile_s if name == plan.name else None,
                         floor_ms=floor_ms, decode_over_floor=decode / floor_ms if floor_ms else None))
    base = rows[0]
    for row in rows:
        row["decode_speedup"] = base["decode_ms_per_token"] / row["decode_ms_per_token"]
        row["keystroke_speedup"] = base["keystroke_ms"] / row["keystroke_ms"]
    del variants, static, model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def fmt(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict], args, device: str) -> str:
    lines = [
        f"device {device}, {args.dtype or 'default dtype'}, static window {args.window}, prompt {args.prompt} tokens cached, keystroke = +{args.extend} "
        f"tokens reused-prefix prefill and {args.new} new tokens; medians of {args.rounds} interleaved rounds x {args.reps} reps",
        "",
        "| shape | params (M) | variant | decode ms/token | keystroke ms | decode speedup | keystroke speedup "
        "| compile s | floor ms | decode / floor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['params_m']} | {r['variant']} | {fmt(r['decode_ms_per_token'])} | {fmt(r['keystroke_ms'], 1)} "
            f"| {fmt(r['decode_speedup'])}x | {fmt(r['keystroke_speedup'])}x | {fmt(r['compile_s'], 1)} "
            f"| {fmt(r['floor_ms'])} | {fmt(r['decode_over_floor'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", action="store_true", help="(how benchmarks/engine.py hands over to this table)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--shapes", default="llama-small,qwen2-small,starcoder2-small",
                        help=f"comma list of {','.join(FAMILY_SHAPES)}")
    parser.add_argument("--prompt", type=int, default=512, help="prompt tokens (cached)")
    parser.add_argument("--extend", type=int, default=16, help="tokens a keystroke adds to the cached prompt")
    parser.add_argument("--new", type=int, default=32, help="tokens per completion")
    parser.add_argument("--steps", type=int, default=32, help="decode steps timed for ms/token")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of all variants")
    parser.add_argument("--buckets", type=lambda s: [int(x) for x in s.split(",")], default=[16],
                        help="prefill buckets compiled (the keystroke's +16 runs in the 16 bucket)")
    parser.add_argument("--window", type=int, default=STATIC_WINDOW,
                        help="static cache positions (the engine's: min(model window, %(default)s)); every step attends over all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = args.device
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    args.dtype = str(dtype).replace("torch.", "")
    bandwidth = copy_bandwidth(device) if device.startswith("cuda") else None
    rows = []
    for shape in args.shapes.split(","):
        log(f"{shape} ...")
        try:
            rows += run_shape(shape, args, device, dtype, bandwidth)
        except Exception as err:  # noqa: BLE001 - one shape's failure (memory, compile) is a row, not the end
            log(f"{shape}: failed ({type(err).__name__}: {err})")
            rows.append(dict(shape=shape, variant=f"failed: {type(err).__name__}", params_m="–",
                             decode_ms_per_token=None, keystroke_ms=None, decode_speedup=None,
                             keystroke_speedup=None, compile_s=None, floor_ms=None, decode_over_floor=None))
        sync(device)
    print(markdown(rows, args, device))
    if args.json:
        args.json.write_text(json.dumps(dict(device=device, bandwidth=bandwidth, rows=rows), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
