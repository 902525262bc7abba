"""Engine speed: the transformers baseline against the fast CodeGen engine, same run, same weights.

For each CodeGen shape (random weights of the real shapes: timing only, the text is noise):
prefill of the prompt, decode ms/token, a 32-token greedy completion from scratch, and a 32-token
completion after a 16-token extension of a cached prompt (the keystroke case), and for the fast engine the
cost of a speculative decoding verification (1+k tokens in one pass after the prompt, k = 4 and 8; captured
per bucket on CUDA like the step) against one decode step. The floor is the weight
bytes over the measured device-to-device copy bandwidth: streaming every weight once per token (the issue's
definition); the "read floor" beside it counts what a step after the prompt really must read: the embedding
table only one row, plus the keys and values of the filled positions (close to the weight floor: for 16B
the cache outweighs the skipped table, for 350M the table outweighs the cache).

    python benchmarks/engine.py                                   # CUDA, fp16, 350M,2B,6B,16B
    python benchmarks/engine.py --device cpu --shapes tiny,small --prompt 128 --new 8   # stays working on CPU
    python benchmarks/engine.py --no-hf --shapes 6B,16B --compile-step off,on   # eager vs compiled step rows
    python benchmarks/engine.py --no-hf --quantize none,int8,int4   # weight-only int8/int4 rows beside fp16
    python benchmarks/engine.py --families --device cpu   # the transformers engine: dynamic vs static plan, per family

With --quantize, each quantized row has its own floor (its weight bytes over the bandwidth), the time to
quantize the weights (load s; from weights already on the device, not from disk) and, on CUDA, the peak
memory while it serves (its weights plus the KV cache, activations and graphs of that row's run).

Prints a markdown table (stdout) and writes the numbers as JSON (--json).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen_lsp.engines.local.codegen.model import StaticCodeGen  # noqa: E402
from codegen_lsp.engines.local.codegen.weights import weights_from_hf  # noqa: E402
from codegen_lsp.engines.local.codegen.quantize import Quantization, quantizer_for  # noqa: E402
from codegen_lsp.engines.local.codegen.quantized_loading import quantize_weights  # noqa: E402

# Drafted tokens per verification timed for the fast engine (a verification runs the last token and these).
VERIFY_DRAFTS = (4, 8)
# n_layer, n_embd, n_head, rotary_dim (CodeGen-{350M,2B,6B,16B}); vocab 51200, 2048 positions.
SHAPES = {
    "tiny": (2, 64, 4, 8),
    "small": (4, 256, 8, 16),
    "350M": (20, 1024, 16, 32),
    "2B": (32, 2560, 32, 64),
    "6B": (33, 4096, 16, 64),
    "16B": (34, 6144, 24, 64),
}


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def build_hf_model(shape: str, device: str, dtype: torch.dtype, seed: int = 0):
    """A CodeGenForCausalLM of the given shape with random weights, created directly on the device."""
    from transformers import CodeGenConfig, CodeGenForCausalLM

    n_layer, n_embd, n_head, rotary_dim = SHAPES[shape]
    config = CodeGenConfig(
        vocab_size=51200, n_positions=2048, n_ctx=2048, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
        rotary_dim=rotary_dim, bos_token_id=50256, eos_token_id=50256,
    )
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = CodeGenForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_ms(fn, device: str, reps: int, setup=None, warmup: int = 1) -> float:
    """Median wall time of fn() in ms (device synchronized around it); setup() runs untimed before each."""
    times = []
    for i in range(warmup + reps):
        if setup is not None:
            setup()
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def copy_bandwidth(device: str) -> float:
    """Bytes per second of a large device-to-device copy, counting bytes read plus bytes written."""
    n = (1 << 30) if device.startswith("cuda") else (1 << 26)
    src = torch.empty(n, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, reps=10, warmup=2)
    del src, dst
    if device.startswith("cuda"):
        torch.cuda.empty_cache()  # the shapes' own processes need this memory
    return 2 * n / (ms / 1000)


class HFBaseline:
    """prefill/step over transformers' forward with a DynamicCache (what the transformers engine does)."""

    def __init__(self, model, device: str) -> None:
        self.model, self.device = model, device
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.cache = None
        self.ids: list[int] = []  # the tokens the cache holds

    def _new_cache(self):
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:
            return DynamicCache()

    def prefill(self, ids: list[int], extend: bool = False) -> torch.Tensor:
        """extend: the cache holds a prefix of ids; run only the rest (else start from an empty cache)."""
        if extend and self.cache is not None and self.ids == ids[: len(self.ids)] and len(ids) > len(self.ids):
            return self._forward(ids[len(self.ids) :])
        self.cache, self.ids = self._new_cache(), []
        return self._forward(ids)

    def step(self, token: int) -> torch.Tensor:
        return self._forward([token])

    def _forward(self, ids: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            x = torch.tensor([ids], device=self.device)
            out = self.model(input_ids=x, use_cache=True, **{self.cache_kw: self.cache})
        self.ids.extend(ids)
        return out.logits[0, -1]


def host_argmax(logits: torch.Tensor) -> int:
    return int(torch.argmax(logits.float().cpu()))


def greedy_loop(first_logits: torch.Tensor, step, n: int, read=host_argmax) -> list[int]:
    """What the decode loop (engines/decoding/loop.py) does per token (copy logits to the host, argmax, step) minus the text work.
    read(logits) -> the next token (default: as the decode loop does it)."""
    logits, out = first_logits, []
    for i in range(n):
        token = read(logits)
        out.append(token)
        if i + 1 < n:
            logits = step(token)
    return out


def bench_hf(model, prompt: list[int], extension: list[int], args, device: str) -> dict:
    hf = HFBaseline(model, device)
    reps = args.reps
    row: dict = {}
    row["prefill_ms"] = median_ms(lambda: hf.prefill(prompt), device, reps)

    def steps():
        for t in range(args.steps):
            hf.step(t + 1)

    row["step_ms"] = median_ms(steps, device, reps, setup=lambda: hf.prefill(prompt)) / args.steps
    row["complete_ms"] = median_ms(lambda: greedy_loop(hf.prefill(prompt), hf.step, args.new), device, reps)

    def extend():
        assert hf.ids == prompt
        greedy_loop(hf.prefill(extension, extend=True), hf.step, args.new)

    row["extend_ms"] = median_ms(extend, device, reps, setup=lambda: hf.prefill(prompt))
    hf.cache = None
    gen_ids = torch.tensor([prompt], device=device)

    def generate():
        with torch.inference_mode():
            model.generate(gen_ids, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                           pad_token_id=0)

    row["generate_ms"] = median_ms(generate, device, reps)
    return row


def bench_fast(model: StaticCodeGen, prompt: list[int], extension: list[int], args, device: str) -> dict:
    reps = args.reps
    row: dict = {"graphs": model.plan.graphs}

    def fresh():
        model.reset()

    row["prefill_ms"] = median_ms(lambda: model.prefill(prompt), device, reps, setup=fresh)

    def steps():
        for t in range(args.steps):
            model.step(t + 1)

    row["step_ms"] = median_ms(steps, device, reps, setup=lambda: (fresh(), model.prefill(prompt))) / args.steps
    # The same steps after a short prompt: the difference is what attention over the long prompt costs.
    short = prompt[: max(1, args.prompt // 16)]
    row["step_short_ms"] = median_ms(steps, device, reps, setup=lambda: (fresh(), model.prefill(short))) / args.steps
    row.update(verify_costs(model, prompt, device, reps))

    def engine_read(logits):
        # As the decode loop does: the model's on-device argmax when it has one, else copy the logits over.
        return int(model.greedy_token) if model.greedy_token is not None else host_argmax(logits)

    def complete():
        greedy_loop(model.prefill(prompt)[0], model.step, args.new, read=engine_read)

    row["complete_ms"] = median_ms(complete, device, reps, setup=fresh)

    def extend(read=engine_read):
        logits, reused = model.prefill(extension)
        assert reused == len(prompt), (reused, len(prompt))
        greedy_loop(logits, model.step, args.new, read=read)

    cached = lambda: model.prefill(prompt)  # noqa: E731 - leaves exactly the prompt in the cache
    row["extend_ms"] = median_ms(extend, device, reps, setup=cached)
    if model.static_step:  # what copying the logits to the host each step would cost
        row["extend_host_copy_ms"] = median_ms(lambda: extend(host_argmax), device, reps, setup=cached)
    return row


def verify_costs(model: StaticCodeGen, prompt: list[int], device: str, reps: int) -> dict:
    """ms of one verification of 1+k tokens after the prompt, each timed from the same cache (truncated back
    to the prompt before each). On CUDA a wider verification than the captured width is recaptured in the
    untimed warm-up run, with the eager layer functions (as the engine widens when draftTokens grows)."""
    model.reset()
    model.prefill(prompt)
    row = {}
    for k in VERIFY_DRAFTS:
        tokens = list(range(1, k + 2))
        row[f"verify{k + 1}_ms"] = median_ms(lambda: model.verify(tokens), device, reps,
                                             setup=lambda: model.truncate(len(prompt)))
    return row


def hf_references(model, device: str, n_prompt: int = 256, n_steps: int = 32) -> dict:
    """transformers' logits for a prompt, its greedy continuation step by step, and a fresh forward of
    prompt + continuation with one token edited in the middle (the fast engine must reuse up to it)."""
    hf = HFBaseline(model, device)
    prompt = torch.randint(0, 50000, (n_prompt,), generator=torch.Generator().manual_seed(2)).tolist()
    logits = hf.prefill(prompt)
    refs = {"prompt": prompt, "prefill": logits.float().cpu(), "tokens": [], "steps": []}
    for _ in range(n_steps):
        token = host_argmax(logits)
        refs["tokens"].append(token)
        logits = hf.step(token)
        refs["steps"].append(logits.float().cpu())
    edited = prompt + refs["tokens"]
    edited[n_prompt // 2] = (edited[n_prompt // 2] + 1) % 50000
    refs["edited"], refs["edited_logits"] = edited, hf.prefill(edited).float().cpu()
    hf.cache = None
    return refs


def check_against(model: StaticCodeGen, refs: dict) -> dict:
    """Relative logit errors of the fast engine against transformers, teacher-forced on its tokens."""
    def rel(a, b):
        return float((a.float().cpu() - b).norm() / b.norm())

    model.reset()
    logits, _ = model.prefill(refs["prompt"])
    result = {"prefill_rel_err": rel(logits, refs["prefill"]), "greedy_agree": 0, "step_rel_err": 0.0}
    agree = True
    for token, ref in zip(refs["tokens"], refs["steps"]):
        agree = agree and host_argmax(logits) == token
        result["greedy_agree"] += agree
        logits = model.step(token)
        result["step_rel_err"] = max(result["step_rel_err"], rel(logits, ref))
    logits, reused = model.prefill(refs["edited"])
    result["reuse_rel_err"], result["reused"] = rel(logits, refs["edited_logits"]), reused
    model.reset()
    return result


def variant_label(fast: StaticCodeGen, requested: str) -> str:
    """What the engine chose at load and the captured step times (ms) it chose by, e.g.
    'auto: sdpa, compiled; step sdpa 5.03, matmul 5.32; eager 5.03, compiled 4.41, logits Δ 1.2e-03'."""
    chosen = f"{fast.plan.attention}, {'compiled' if fast.plan.compiled else 'eager'}"
    times = [", ".join(f"{k} {v:.2f}" for k, v in timings.items())
             for timings in (fast.timings.attention, fast.timings.compile) if timings]
    if fast.timings.compile_agreement is not None:
        times.append(f"logits Δ {fast.timings.compile_agreement:.1e}")
    return f"{requested}: {chosen}" + (f"; step {'; '.join(times)}" if times else "")


def read_floor_bytes(weights, prompt: int) -> int:
    """Bytes one decode step after `prompt` tokens must read: every weight but the embedding table (one
    row of it), plus the keys and values of the filled positions."""
    s = weights.shape
    embedding = weights.wte.numel() * weights.wte.element_size()
    kv = 2 * s.n_layer * prompt * s.n_embd * weights.wte.element_size()
    return weights.nbytes() - embedding + kv


def run_shape(shape: str, args, device: str, dtype: torch.dtype, bandwidth: float) -> list[dict]:
    log(f"[{shape}] building random weights on {device} ({dtype})")
    model = build_hf_model(shape, device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    floor_ms = weight_bytes / bandwidth * 1000
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 50000, (args.prompt,), generator=generator).tolist()
    extension = prompt + torch.randint(0, 50000, (args.extend,), generator=generator).tolist()
    common = {"shape": shape, "weights_gb": weight_bytes / 1e9, "floor_ms": floor_ms}
    rows = []
    if not args.no_hf:
        log(f"[{shape}] transformers baseline")
        rows.append({**common, "engine": "transformers", **guarded(bench_hf, model, prompt, extension, args, device)})
    refs = hf_references(model, device) if args.check else None
    log(f"[{shape}] fast engine")
    weights = weights_from_hf(model, device, dtype)
    del model
    gc.collect()
    common["read_floor_ms"] = read_floor_bytes(weights, args.prompt) / bandwidth * 1000
    # Quantized copies first (made from the dense weights on the device), so that the dense ones can go
    # before the quantized rows run.
    quantized, load_s = {}, {}
    for name in args.quantize.split(","):
        if Quantization(name) is not Quantization.NONE:
            start = time.perf_counter()
            try:
                quantized[name] = quantize_weights(weights, quantizer_for(Quantization(name), device, dtype))
            except Exception as err:  # noqa: BLE001 - e.g. no int4 kernel here: a row that says so
                rows.append({**common, "engine": f"fast {name}", "error": f"{type(err).__name__}: {err}"[:200]})
                continue
            sync(device)
            load_s[name] = time.perf_counter() - start
            log(f"[{shape}] {name}: quantized in {load_s[name]:.1f} s")
    runs = [("none", weights)] if "none" in args.quantize.split(",") else []
    runs += list(quantized.items())
    del weights, quantized
    variants = [(a, c) for a in args.attention.split(",") for c in args.compile_step.split(",")]
    while runs:
        name, run_weights = runs.pop(0)
        rows += fast_rows(shape, name, run_weights, load_s.get(name), common, variants, refs, prompt, extension, args,
                          device, bandwidth)
        del run_weights
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return rows


def fast_rows(shape, quantize, weights, load_s, common, variants, refs, prompt, extension, args, device,
              bandwidth) -> list[dict]:
    """The fast engine's rows over one set of weights (dense or quantized; load_s: the time quantizing took),
    one per attention/compile variant."""
    rows = []
    weight_bytes = weights.nbytes()
    base = {**common}
    if quantize != "none":
        base.update(weights_gb=weight_bytes / 1e9, floor_ms=weight_bytes / bandwidth * 1000,
                    read_floor_ms=read_floor_bytes(weights, args.prompt) / bandwidth * 1000)
    for attention, compile_step in variants:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            resident = torch.cuda.memory_allocated(device)  # every set of weights still held, this one included
        # verify_width: capture_all captures the verification graphs too, as the engine does at load.
        fast = StaticCodeGen(weights, graphs=device.startswith("cuda"), decode_attention=attention,
                             static_step=args.static_step or None, compile_step=compile_step,
                             verify_width=1 + VERIFY_DRAFTS[0])
        name = attention if compile_step == "auto" else f"{attention}, compile {compile_step}"
        if quantize != "none":
            name = f"{quantize}, {name}"
        row = {**base, "engine": f"fast ({name})", "quantize": quantize}
        start = time.perf_counter()
        fast.capture_all()  # as the engine does at load: choose the attention variant, capture the graphs
        sync(device)
        row["capture_s"] = time.perf_counter() - start
        if refs is not None:
            row.update(guarded(check_against, fast, refs))
            log(f"[{shape}] {row['engine']} vs transformers: " + ", ".join(
                f"{k} {row[k]:.2e}" if isinstance(row.get(k), float) else f"{k} {row.get(k)}"
                for k in ("prefill_rel_err", "step_rel_err", "greedy_agree", "reuse_rel_err", "reused")))
        row.update(guarded(bench_fast, fast, prompt, extension, args, device))
        row.update(step_compiled=fast.plan.compiled, compile_timings=fast.timings.compile,
                   compile_agreement=fast.timings.compile_agreement)
        if fast.timings.attention:
            row["attention_timings"] = fast.timings.attention
        if device.startswith("cuda"):  # this row's weights + what its run allocated on top
            row["peak_gb"] = (weight_bytes + torch.cuda.max_memory_allocated(device) - resident) / 1e9
        load = f"quantize {load_s:.1f} s, " if load_s is not None else ""
        # capture_s: the load-time choices (compile included) and every bucket's capture
        row["engine"] = f"fast ({variant_label(fast, name)}; load {load}{row['capture_s']:.1f} s)"
        rows.append(row)
        del fast
        gc.collect()
    return rows


def run_isolated(shape: str, args, device: str, dtype: torch.dtype, bandwidth: float) -> list[dict]:
    """run_shape in a child process; its failure becomes a row that says so."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows_json = Path(tmp) / "rows.json"
        command = [
            sys.executable, str(Path(__file__).resolve()), "--device", device, "--dtype", str(dtype).split(".")[-1],
            "--shapes", shape, "--prompt", str(args.prompt), "--new", str(args.new), "--extend", str(args.extend),
            "--steps", str(args.steps), "--reps", str(args.reps), "--attention", args.attention,
            "--compile-step", args.compile_step, "--quantize", args.quantize,
            "--bandwidth", repr(bandwidth), "--rows-json", str(rows_json),
        ] + [flag for flag, on in (("--no-hf", args.no_hf), ("--check", args.check), ("--static-step", args.static_step)) if on]
        done = subprocess.run(command, stdout=sys.stderr)
        if done.returncode == 0 and rows_json.is_file():
            return json.loads(rows_json.read_text())
    return [{"shape": shape, "weights_gb": float("nan"), "floor_ms": float("nan"), "engine": "all",
             "error": f"the {shape} process exited with {done.returncode}"}]


def guarded(fn, *args) -> dict:
    """One failing measurement must not lose the rest of a (scarce) GPU run."""
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - reported in the table and the log
        import traceback

        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"[:200]}


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def verify_cells(row: dict) -> str:
    """A verification's ms and its ratio to one decode step (– for engines without it)."""
    cells = ""
    for k in VERIFY_DRAFTS:
        ms = row.get(f"verify{k + 1}_ms")
        cells += f" {fmt(ms, 2)} | {fmt(ms / row['step_ms'] if ms is not None else None, 2)} |"
    return cells


def markdown(rows: list[dict], args) -> str:
    lines = [
        f"| shape | weights GB | floor ms/tok (read floor) | engine | prefill {args.prompt} ms | decode ms/tok | × floor "
        f"| {args.new} tok ms | +{args.extend} then {args.new} tok ms | same, logits to host | generate() {args.new} tok ms "
        f"| decode ms/tok after {max(1, args.prompt // 16)} tokens |"
        + "".join(f" verify {k + 1} ms | verify {k + 1} / step |" for k in VERIFY_DRAFTS) + " peak GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * len(VERIFY_DRAFTS) + "---|",
    ]
    for r in rows:
        if "step_ms" not in r:
            lines.append(f"| {r['shape']} | {r['weights_gb']:.2f} | {r['floor_ms']:.2f} | {r['engine']} | failed: {r.get('error')} |")
            continue
        lines.append(
            f"| {r['shape']} | {r['weights_gb']:.2f} | {r['floor_ms']:.2f} ({fmt(r.get('read_floor_ms'), 2)}) "
            f"| {r['engine']} | {fmt(r['prefill_ms'])} "
            f"| {fmt(r['step_ms'], 2)} | {r['step_ms'] / r['floor_ms']:.2f} | {fmt(r['complete_ms'])} "
            f"| {fmt(r['extend_ms'])} | {fmt(r.get('extend_host_copy_ms'))} | {fmt(r.get('generate_ms'))} "
            f"| {fmt(r.get('step_short_ms'), 2)} |" + verify_cells(r) + f" {fmt(r.get('peak_gb'), 2)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if "--families" in (sys.argv[1:] if argv is None else argv):  # Llama, Qwen2, StarCoder2: engine_families.py
        from benchmarks import engine_families

        return engine_families.main(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: float16 on CUDA, float32 on CPU")
    parser.add_argument("--shapes", default="350M,2B,6B,16B", help=f"comma list of {','.join(SHAPES)}")
    parser.add_argument("--prompt", type=int, default=1536, help="prompt tokens")
    parser.add_argument("--new", type=int, default=32, help="tokens per completion")
    parser.add_argument("--extend", type=int, default=16, help="tokens added to the cached prompt")
    parser.add_argument("--steps", type=int, default=32, help="decode steps timed for ms/token")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions (median), after one warm-up")
    parser.add_argument("--attention", default="auto",
                        help="decode attention variants of the fast engine: auto (what the engine does: times "
                             "sdpa and matmul at load, keeps the faster), sdpa, matmul; comma list")
    parser.add_argument("--compile-step", default="auto",
                        help="the fast engine's decode step through torch.compile: auto (what the engine does: on "
                             "CUDA times compiled vs eager at load, keeps the faster if its logits agree), on, off; "
                             "comma list")
    parser.add_argument("--quantize", default="none",
                        help="weights of the fast engine's rows: none (the dtype), int8, int4; comma list")
    parser.add_argument("--no-hf", action="store_true", help="skip the transformers baseline")
    parser.add_argument("--check", action="store_true", help="compare the fast engine's logits with transformers")
    parser.add_argument("--static-step", action="store_true", help="on CPU: run the decode step CUDA would capture")
    parser.add_argument("--json", type=Path, help="write all numbers here")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="each shape in its own process (default on CUDA: a device fault loses one shape, not all)")
    parser.add_argument("--bandwidth", type=float, help=argparse.SUPPRESS)  # set by the parent for --isolate
    parser.add_argument("--rows-json", type=Path, help=argparse.SUPPRESS)  # where an isolated shape writes its rows
    args = parser.parse_args(argv)
    engine_log = logging.getLogger("codegen_lsp")  # the engine's load-time choices, to stderr
    engine_log.setLevel(logging.INFO)
    engine_log.addHandler(logging.StreamHandler(sys.stderr))
    device = args.device
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.float16 if device.startswith("cuda") else torch.float32)
    import transformers

    card = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    bandwidth = args.bandwidth or copy_bandwidth(device)
    if args.rows_json is not None:  # one isolated shape, for a parent process
        args.rows_json.write_text(json.dumps(run_shape(args.shapes, args, device, dtype, bandwidth)))
        return 0
    log(f"{card}: copy bandwidth {bandwidth / 1e12:.2f} TB/s; torch {torch.__version__}, transformers {transformers.__version__}")
    isolate = device.startswith("cuda") if args.isolate is None else args.isolate
    rows = []
    for shape in args.shapes.split(","):
        if isolate:
            shape_rows = run_isolated(shape, args, device, dtype, bandwidth)
        else:
            shape_rows = run_shape(shape, args, device, dtype, bandwidth)
        log(markdown(shape_rows, args))
        rows.extend(shape_rows)
    print(f"{card}, {dtype}, copy bandwidth {bandwidth / 1e12:.2f} TB/s, torch {torch.__version__}, "
          f"transformers {transformers.__version__}; random weights (timing only)\n")
    print(markdown(rows, args))
    if args.json:
        meta = {"card": card, "dtype": str(dtype), "bandwidth_Bps": bandwidth, "torch": torch.__version__,
                "transformers": transformers.__version__, "args": {k: str(v) for k, v in vars(args).items()}}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
