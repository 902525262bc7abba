"""What speculative decoding buys: plain greedy decoding against prompt lookup (and, with --draft-model, a
draft model) on a real model, side by side in one run, on the same engine object and the same cursors.

The cursors are benchmarks/quality.py's (real code of the project's dependencies, not the CPython standard
library pycodegen-tiny was trained on), sampled with a fixed seed; the prompt is built as the server builds
it (cursor_context, build_prompt; no snippets). Each request goes through Engine.generate and runs to
max_new_tokens or end of text (no post-processing stop). Per cursor and configuration it runs twice: from an
empty cache (the whole request, prefill included), then again with the prompt cached, as while the user
types (only the prompt's last token runs again: the timed part is the decode). The speculative texts must
equal plain greedy's; a mismatch is printed with its cursor and the exit status is 1.

    python benchmarks/speculation.py                                  # CPU: fast and transformers engines
    python benchmarks/speculation.py --device cuda --engine fast --cursors 12
    python benchmarks/speculation.py --draft-model PATH               # adds draft-model rows

On CUDA every verification is padded to max(--draft)+1 tokens (one captured graph per attention bucket),
as the server pads to draftTokens+1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # noqa: E402  (sets HF_HUB_OFFLINE; its cursors are ours)
import torch  # noqa: E402

from codegen_lsp.context import cursor_context  # noqa: E402
from codegen_lsp.engines import create_engine  # noqa: E402
from codegen_lsp.engines.base import CancelToken, Generation, GenerationRequest  # noqa: E402
from codegen_lsp.engines.local.loading import resolve_dtype  # noqa: E402
from codegen_lsp.prompt import build_prompt, token_budget  # noqa: E402
from codegen_lsp.settings import Settings  # noqa: E402

PLAIN = "plain greedy"


@dataclass(frozen=True)
class Config:
    label: str
    draft_tokens: int
    draft_model: bool = False


@dataclass
class Run:
    cold_ms: float  # the whole request from an empty cache
    warm_ms: float  # the same request with the prompt cached: the decode
    generation: Generation  # of the warm run
    cold_text: str


# -- cursors and prompts -------------------------------------------------------------------------------------
def pick_cursors(count: int, seed: int) -> list[quality.Case]:
    """quality.py's cursors from its files found here, `count` of them sampled with a fixed seed."""
    files = [name for name in quality.FILES if (quality.SITE / name).is_file()]
    if not files:
        sys.exit(f"none of {', '.join(quality.FILES)} is installed under {quality.SITE}")
    rng = random.Random(seed)
    per_kind = math.ceil(count / (len(files) * len(quality.KINDS)))
    cases = [case for name in files for case in quality.cases_of(quality.SITE / name, per_kind, rng)]
    chosen = sorted(rng.sample(range(len(cases)), min(count, len(cases))))
    return [cases[i] for i in chosen]


def prompt_request(engine, case: quality.Case, args, draft_tokens: int) -> GenerationRequest:
    ctx = cursor_context(case.prefix + case.suffix, len(case.prefix), "python", f"file:///bench/{case.file}")
    budget = token_budget(engine.context_window, args.new, args.context_tokens)
    built = build_prompt(ctx.prefix, ctx.suffix, ctx.path, ctx.language, budget, engine.count_tokens,
                         max_token_chars=engine.max_token_chars())
    return GenerationRequest(prompt=built.text, suffix=ctx.suffix, max_new_tokens=args.new, draft_tokens=draft_tokens)


# -- measuring -----------------------------------------------------------------------------------------------
def load_engine(kind: str, args):
    settings = Settings(model=args.model, device=args.device, dtype=args.dtype, engine=kind,
                        draft_tokens=max(args.draft), draft_model=args.draft_model)
    engine = create_engine(settings)
    engine.load(lambda message, percent: None)
    return engine


def resolved_dtype(model: str, setting: str, device: str) -> str:
    """The dtype the engines will load in (auto: float32 on CPU, the checkpoint's half precision on CUDA)."""
    from transformers import AutoConfig

    config_dtype = getattr(AutoConfig.from_pretrained(model), "dtype", None)
    return str(resolve_dtype(setting, device, config_dtype)).removeprefix("torch.")


def configurations(args) -> list[Config]:
    configs = [Config(PLAIN, 0)] + [Config(f"prompt lookup, k={k}", k) for k in args.draft]
    if args.draft_model:
        configs += [Config(f"draft model, k={k}", k, draft_model=True) for k in args.draft]
    return configs


def timed_generate(engine, request: GenerationRequest) -> tuple[Generation, float]:
    start = time.perf_counter()
    generation = engine.generate(request, CancelToken())
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return generation, (time.perf_counter() - start) * 1000


def run_config(engine, model_drafter, request: GenerationRequest, config: Config) -> Run:
    # One engine serves both drafters: the draft model drafts whenever engine.drafter is set.
    engine.drafter = model_drafter if config.draft_model else None
    engine.model.reset()
    if engine.drafter is not None:
        engine.drafter.reset()
    cold, cold_ms = timed_generate(engine, request)
    warm, warm_ms = timed_generate(engine, request)
    return Run(cold_ms, warm_ms, warm, cold.text)


def measure(engine, cases, configs: list[Config], args) -> dict[str, list[Run]]:
    model_drafter = engine.drafter
    runs: dict[str, list[Run]] = {c.label: [] for c in configs}
    for config in configs:  # warm-up, untimed
        run_config(engine, model_drafter, prompt_request(engine, cases[0], args, config.draft_tokens), config)
    for i, case in enumerate(cases):
        # A different order per cursor, so that no configuration always runs first on a cursor.
        for config in configs[i % len(configs):] + configs[: i % len(configs)]:
            request = prompt_request(engine, case, args, config.draft_tokens)
            runs[config.label].append(run_config(engine, model_drafter, request, config))
        print(f"\r[{engine.name}] {i + 1}/{len(cases)} cursors", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    engine.drafter = model_drafter
    return runs


def mismatches(engine_name: str, cases, runs: dict[str, list[Run]]) -> list[dict]:
    """Every text (cold or warm run) that differs from plain greedy's warm run on the same cursor: a
    speculative one, or plain greedy's own cold run (prefix reuse must not change the text either)."""
    found = []
    for label, config_runs in runs.items():
        for case, plain, run in zip(cases, runs[PLAIN], config_runs):
            expected = plain.generation.text
            for which, text in (("warm", run.generation.text), ("cold", run.cold_text)):
                if text != expected:
                    found.append({"engine": engine_name, "drafting": label, "run": which, "file": case.file,
                                  "kind": case.kind, "cursor_offset": len(case.prefix),
                                  "first_difference": first_difference(text, expected),
                                  "plain": expected, "speculative": text})
    return found


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


# -- the report ----------------------------------------------------------------------------------------------
def summary(engine_name: str, label: str, config_runs: list[Run], plain_runs: list[Run], bad: list[dict]) -> dict:
    tokens = sum(r.generation.generated_tokens for r in config_runs)
    passes = sum(r.generation.forward_passes for r in config_runs)
    drafted = sum(r.generation.drafted_tokens for r in config_runs)
    accepted = sum(r.generation.accepted_tokens for r in config_runs)
    warm = [r.warm_ms for r in config_runs]
    cold = [r.cold_ms for r in config_runs]
    differing = {(b["file"], b["cursor_offset"]) for b in bad if b["engine"] == engine_name and b["drafting"] == label}
    return {
        "engine": engine_name, "drafting": label, "cursors": len(config_runs),
        "prompt_tokens_mean": statistics.mean(r.generation.prompt_tokens for r in config_runs),
        "identical": len(config_runs) - len(differing),
        "decode_ms_mean": statistics.mean(warm), "decode_ms_p50": statistics.median(warm),
        "request_ms_mean": statistics.mean(cold), "ms_per_token": sum(warm) / max(tokens, 1),
        "generated_tokens": tokens, "forward_passes": passes, "drafted_tokens": drafted, "accepted_tokens": accepted,
        "passes_per_token": passes / max(tokens, 1),
        "accepted_per_pass": accepted / passes if drafted and passes else None,
        "acceptance_rate": accepted / drafted if drafted else None,
        "decode_speedup": sum(r.warm_ms for r in plain_runs) / sum(warm),
        "request_speedup": sum(r.cold_ms for r in plain_runs) / sum(cold),
    }


def fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| engine | drafting | identical texts | ms/completion mean | p50 | ms/token | model passes/token "
        "| accepted/pass | acceptance | speedup vs plain | whole request ms mean (prefill incl.) | speedup |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['drafting']} | {r['identical']}/{r['cursors']} | {r['decode_ms_mean']:.1f} "
            f"| {r['decode_ms_p50']:.1f} | {r['ms_per_token']:.2f} | {r['passes_per_token']:.2f} "
            f"| {fmt(r['accepted_per_pass'], '.2f')} | {fmt(r['acceptance_rate'], '.0%')} | {r['decode_speedup']:.2f}× "
            f"| {r['request_ms_mean']:.1f} | {r['request_speedup']:.2f}× |"
        )
    return "\n".join(lines)


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    except OSError:
        names = []
    name = names[0] if names else platform.processor() or "CPU"
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "pycodegen-tiny"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="auto", help="auto: float32 on CPU, the checkpoint's half precision on CUDA")
    parser.add_argument("--engine", help="comma list of fast,transformers (default: both on CPU, fast on CUDA)")
    parser.add_argument("--draft", default="4,8", help="comma list of draft_tokens values for the speculative rows")
    parser.add_argument("--draft-model", help="a small model with the same tokenizer: adds draft-model rows")
    parser.add_argument("--cursors", type=int, default=40)
    parser.add_argument("--new", type=int, default=48, help="max_new_tokens per completion")
    parser.add_argument("--context-tokens", type=int, default=0, help="prompt budget (0: the server's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)
    args.draft = [int(k) for k in args.draft.split(",")]
    engines = (args.engine or ("fast" if args.device.startswith("cuda") else "fast,transformers")).split(",")
    if not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads)
    command = "python " + shlex.join([f"benchmarks/{Path(sys.argv[0]).name}", *(sys.argv[1:] if argv is None else argv)])
    print(f"machine: {machine(args.device)}; torch {torch.__version__}, python {platform.python_version()}")
    print(f"command: {command}")
    args.dtype = resolved_dtype(args.model, args.dtype, args.device)
    cases = pick_cursors(args.cursors, args.seed)
    configs = configurations(args)
    rows, bad = [], []
    for kind in engines:
        engine = load_engine(kind, args)
        try:
            runs = measure(engine, cases, configs, args)
        finally:
            engine.close()
        bad += mismatches(kind, cases, runs)
        rows += [summary(kind, label, config_runs, runs[PLAIN], bad) for label, config_runs in runs.items()]
    files = sorted({c.file for c in cases})
    print(f"model: {args.model} ({args.dtype}); {len(cases)} cursors from {', '.join(files)} (seed {args.seed}); "
          f"prompts {rows[0]['prompt_tokens_mean']:.0f} tokens on average; max_new_tokens {args.new}; "
          "ms/completion: prompt cached (the decode); whole request: from an empty cache\n")
    print(markdown(rows))
    for b in bad:
        print(f"\nTEXT MISMATCH: {b['engine']}, {b['drafting']} ({b['run']} run), {b['file']} {b['kind']} cursor at "
              f"offset {b['cursor_offset']}, first difference at char {b['first_difference']}:\n"
              f"  plain:       {b['plain']!r}\n  speculative: {b['speculative']!r}")
    if args.json:
        meta = {"machine": machine(args.device), "command": command, "torch": torch.__version__,
                "cursors": [{"file": c.file, "kind": c.kind, "offset": len(c.prefix)} for c in cases]}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "mismatches": bad}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
