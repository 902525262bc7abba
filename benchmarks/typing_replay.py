"""Replay typing real source files keystroke by keystroke through the LSP server, with KV reuse and
typed-through on and off, and speculative decoding on and off, in the same run.

Each keystroke is sent the way editors send it: didChange, then inlineCompletion; when the next key comes
before the answer, the old request is cancelled with $/cancelRequest. Keys come `--pause` seconds apart,
with a longer `--line-pause` at the end of each line (where people stop and look at the suggestion).

    python benchmarks/typing_replay.py --model ../shared/models/pycodegen-tiny --device cpu
    python benchmarks/typing_replay.py --shape 350m --device cpu      # a random model of CodeGen-350M's shape
    python benchmarks/typing_replay.py --model ../shared/models/pycodegen-tiny --accept   # a user who takes hints

With --variants the same keystrokes go to one server per engine/thread variant (e.g. `--variants
today,auto,transformers:1,fast:1,transformers:2,fast:2`; `today`: the transformers engine with torch's default
threads, one per logical CPU, what `auto` was before it picked the fast engine on a CPU), interleaved: the typed
text is cut into chunks of --chunk keys and each chunk is typed into every server in turn (alternating the order),
so a busy machine slows every variant alike; the table's ratios are to the first variant.

Prints three tables: the engine's prefill cost for a cold prompt vs a keystroke on a cached one, the
replay's per-keystroke figures for each mode and their ratios to the first, and writes a latency CDF (PNG).

With --accept the typist also reads the ghost text, as the editors report it: each answer's first item is shown
(didShowCompletion); when it is exactly what is typed next it is accepted with Tab (the text goes in, then the
item's command through workspace/executeCommand) and those keys are skipped; when only its first words are, they are
taken as with accept-next-word (didPartiallyAcceptCompletion). The table then gains the server's accept and kept
rates (codegen/stats) for the replay, next to its latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tiny_model builds the random models of a given shape

SHAPES = {  # CodeGen configurations (random weights: for cost, not quality)
    "350m": dict(n_layer=20, n_embd=1024, n_head=16, rotary_dim=32, vocab_size=51200),
    "tiny": dict(n_layer=2, n_embd=64, n_head=4, rotary_dim=8),
}

MODES = {  # the first is the baseline of the ratio columns
    "reuse on": {"kvCacheSlots": 4, "typedThrough": True},  # drafts on: draftTokens keeps its default (4)
    "no drafts": {"kvCacheSlots": 4, "typedThrough": True, "draftTokens": 0},  # what speculation changes
    "reuse off": {"kvCacheSlots": 0, "typedThrough": False},
}


def default_files() -> list[Path]:
    """Real source files nobody wrote for this benchmark: modules of this Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / "textwrap.py", stdlib / "shlex.py"]


@dataclass
class Script:
    """A file cut into what is already there when the user starts (the prompt) and what they type."""

    path: Path
    before: str
    typed: str


def make_scripts(files: list[Path], context_lines: int, keys: int) -> list[Script]:
    scripts = []
    per_file = max(1, keys // len(files))
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        before = "".join(lines[:context_lines])
        typed = "".join(lines[context_lines:])[:per_file]
        scripts.append(Script(path, before, typed))
    return scripts


@dataclass
class Outcome:
    latency_ms: float | None  # None: cancelled before an answer came
    kind: str = ""  # typed_through | cache | model | ...
    engine_ms: float = 0.0
    passes: int = 0  # model passes after the prefill (model-served answers)
    generated: int = 0  # tokens they generated
    items: list = field(default_factory=list)  # the answer's inline items


@dataclass
class ModeResult:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


class ReplayClient(LanguageClient):
    def __init__(self) -> None:
        super().__init__("typing-replay", "1")

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create_progress(params):
            return None

        @self.feature("codegen/status")
        def _status(params):
            pass

        @self.feature(types.PROGRESS)
        def _progress(params):
            pass

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def _show(params):
            print(f"  server says: {params.message}", file=sys.stderr)


def as_dict(value):
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    return value


async def stats(client: ReplayClient) -> dict:
    return as_dict(await client.protocol.send_request_async("codegen/stats", None))


async def start_server(model: str, args, options: dict) -> ReplayClient:
    client = ReplayClient()
    await client.start_io(sys.executable, "-m", "codegen_lsp", "--stdio", "--log-level", "warning")
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
            initialization_options={
                "model": model,
                "device": args.device,
                "engine": args.engine,
                "maxNewTokens": args.max_new_tokens,
                **options,
            },
        )
    )
    client.initialized(types.InitializedParams())
    while (s := await stats(client))["state"] not in ("ready", "failed"):
        await asyncio.sleep(0.2)
    if s["state"] == "failed":
        raise SystemExit(f"model failed to load: {s['error']}")
    return client


WORD = re.compile(r"\s*\w+|\s*[^\s\w]+|\s+")  # what accept-next-word takes, as the editors do


def words_typed_next(text: str, upcoming: str) -> str:
    """The longest start of `text` made of whole words that is also what is typed next."""
    taken = ""
    for word in WORD.finditer(text):
        if not upcoming.startswith(taken + word[0]):
            break
        taken += word[0]
    return taken


def after(line: int, column: int, text: str) -> tuple[int, int]:
    """Where the cursor is after typing `text` at (line, column) (ASCII-safe for the stdlib files typed here)."""
    lines = text.split("\n")
    return (line + len(lines) - 1, (column if len(lines) == 1 else 0) + len(lines[-1]))


def insert(client: ReplayClient, uri: str, version: int, line: int, column: int, text: str) -> None:
    here = types.Position(line, column)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=text)],
        )
    )


async def take_hint(client: ReplayClient, uri: str, version: int, line: int, column: int, item, upcoming: str) -> str:
    """What a user who reads the ghost text does with `item`: the text it put in ("" when it typed on)."""
    as_json = client.protocol._converter.unstructure(item)
    client.protocol.notify("textDocument/didShowCompletion", {"item": as_json})
    text = item.insert_text if isinstance(item.insert_text, str) else ""
    if text and upcoming.startswith(text):
        insert(client, uri, version, line, column, text)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
        )
        return text
    part = words_typed_next(text, upcoming)
    if part:
        insert(client, uri, version, line, column, part)
        units = len(part.encode("utf-16-le")) // 2
        client.protocol.notify("textDocument/didPartiallyAcceptCompletion", {"item": as_json, "acceptedLength": units})
    return part


async def replay(
    client: ReplayClient, scripts: list[Script], pause: float, line_pause: float, closed_loop: bool = False,
    accept: bool = False, first_number: int = 0,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    next_id = 10_000
    for number, script in enumerate(scripts, first_number):
        uri = f"file:///replay/{number}/{script.path.name}"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=script.before)
            )
        )
        line = script.before.count("\n")
        column = len(script.before) - (script.before.rfind("\n") + 1)
        version, index = 1, 0
        while index < len(script.typed):
            ch = script.typed[index]
            version += 1
            insert(client, uri, version, line, column, ch)
            index += 1
            line, column = (line + 1, 0) if ch == "\n" else (line, column + 1)
            next_id += 1
            wait = line_pause if ch == "\n" else pause
            outcome = await ask(client, uri, line, column, next_id, wait, closed_loop)
            outcomes.append(outcome)
            if accept and outcome.items:
                version += 1
                taken = await take_hint(client, uri, version, line, column, outcome.items[0], script.typed[index:])
                if taken:
                    index += len(taken)
                    line, column = after(line, column, taken)
                else:
                    version -= 1
    return outcomes


async def inline_request(
    client: ReplayClient, uri: str, line: int, column: int, msg_id: int, wait: float | None
) -> tuple[asyncio.Future, float, float | None]:
    """Send one automatic inlineCompletion and wait up to `wait` seconds (None: for the answer); with no answer
    by then, cancel it as editors do. Returns the request, when it was sent, and its latency in ms (None:
    cancelled)."""
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, column),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )
    sent = time.perf_counter()
    request = asyncio.ensure_future(
        client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)
    )
    done, _ = await asyncio.wait({request}, timeout=wait)
    if not done:
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        request.add_done_callback(lambda f: f.exception())  # the cancellation error is expected
        return request, sent, None
    return request, sent, (time.perf_counter() - sent) * 1000


async def ask(
    client: ReplayClient, uri: str, line: int, column: int, msg_id: int, pause: float, closed_loop: bool
) -> Outcome:
    """One inlineCompletion; cancelled (as editors do) when no answer came before the next key is due.
    closed_loop: the next key waits for the answer instead (every keystroke's latency is measured)."""
    request, sent, latency_ms = await inline_request(client, uri, line, column, msg_id, None if closed_loop else pause)
    if latency_ms is None or request.exception() is not None:
        return Outcome(None)
    last = (await stats(client))["last"] or {}
    remaining = pause - (time.perf_counter() - sent)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return Outcome(
        latency_ms, last.get("outcome", ""), last.get("engine_ms") or 0.0, last.get("passes") or 0,
        last.get("generated") or 0, list(request.result().items) if request.result() else [],
    )


async def run_mode(name: str, args, model: str, scripts: list[Script]) -> ModeResult:
    client = await start_server(model, args, MODES[name])
    try:
        result = ModeResult(name, await replay(client, scripts, args.pause, args.line_pause, args.closed_loop, args.accept))
        await asyncio.sleep(0.5)  # let a last cancelled generation stop and count
        if args.accept and args.kept_wait > 0:
            await asyncio.sleep(args.kept_wait)  # the server checks accepted text 30 s (and 2 min) after the accept
        result.stats = await stats(client)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return result


def variant_options(variant: str) -> dict:
    """`today`, `auto` or ENGINE[:THREADS] -> the server's engine and threads settings (threads 0: auto)."""
    if variant == "today":
        return {"engine": "transformers", "threads": len(os.sched_getaffinity(0))}
    engine, _, threads = variant.partition(":")
    return {"engine": engine, "threads": int(threads or 0)}


def chunks(scripts: list[Script], keys: int) -> list[Script]:
    """Each script cut into pieces of `keys` keystrokes; a piece starts with everything typed before it."""
    pieces = []
    for script in scripts:
        for start in range(0, len(script.typed), keys):
            pieces.append(Script(script.path, script.before + script.typed[:start], script.typed[start : start + keys]))
    return pieces


async def run_variants(args, model: str, scripts: list[Script]) -> list[ModeResult]:
    """Every variant's server up at once; the chunks typed into each in turn (see the module docstring)."""
    names = args.variants.split(",")
    clients = {name: await start_server(model, args, {**MODES["reuse on"], **variant_options(name)}) for name in names}
    results = {name: ModeResult(name) for name in names}
    try:
        for number, piece in enumerate(chunks(scripts, args.chunk)):
            for name in names if number % 2 == 0 else names[::-1]:
                outcomes = await replay(clients[name], [piece], args.pause, args.line_pause, args.closed_loop,
                                        args.accept, first_number=number)
                results[name].outcomes += outcomes
            await asyncio.sleep(0.5)  # a last cancelled generation stops before the next chunk
        for name, client in clients.items():
            results[name].stats = await stats(client)
    finally:
        for client in clients.values():
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
    for name, result in results.items():
        runtime = result.stats.get("runtime") or {}
        print(f"{name}: engine {result.stats.get('engine')}, " + ", ".join(f"{k} {v}" for k, v in sorted(runtime.items())))
    return list(results.values())


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    return data[min(len(data) - 1, int(round(q * (len(data) - 1))))]


def summarize(result: ModeResult) -> dict:
    keys = len(result.outcomes)
    answered = [o for o in result.outcomes if o.latency_ms is not None]
    latencies = [o.latency_ms for o in answered]
    typed = [o.latency_ms for o in answered if o.kind == "typed_through"]
    model = [o for o in answered if o.kind == "model"]
    s = result.stats
    return {
        "keystrokes": keys,
        "answered %": 100 * len(answered) / keys,
        "latency p50 ms": pct(latencies, 0.5),
        "latency p95 ms": pct(latencies, 0.95),
        "latency max ms": max(latencies) if latencies else None,
        "typed-through hit %": 100 * s["typed_through_hits"] / keys,
        "cache hit %": 100 * s["cache_hits"] / keys,
        "model calls / key": s["model_calls"] / keys,
        "tokens prefilled / key": s["tokens_prefilled"] / keys,
        "tokens reused / key": s["tokens_reused"] / keys,
        "wasted decode steps / key": s["tokens_wasted"] / keys,
        "tokens drafted / key": s["tokens_drafted"] / keys,
        "tokens accepted / key": s["tokens_accepted"] / keys,
        "model passes / generated token": passes_per_token(model),
        "cancelled + superseded": s["cancelled"] + s["superseded"],
        "typed-through p50 ms": pct(typed, 0.5),
        "server overhead p50 ms": pct([o.latency_ms - o.engine_ms for o in model], 0.5),
        "model-served p50 ms": pct([o.latency_ms for o in model], 0.5),
        **acceptance_rows(s.get("acceptance")),
    }


def acceptance_rows(a: dict | None) -> dict:
    """The server's acceptance counters for the replay (--accept): what a typist who takes matching hints kept."""
    if not a or not a.get("shown"):
        return {}
    percent = lambda rate: None if rate is None else 100 * rate  # noqa: E731
    return {
        "suggestions shown": a["shown"],
        "accepted (Tab)": a["accepted"],
        "partially accepted (word)": a["partially_accepted"],
        "accept rate %": percent(a["accept_rate"]),
        "characters accepted": a["accepted_chars"],
        "kept rate after 30 s %": percent(a["kept_rate_30s"]),
        "kept rate after 2 min %": percent(a["kept_rate_120s"]),
    }


def passes_per_token(model_served: list[Outcome]) -> float | None:
    """Plain greedy is just under 1 (the first token comes with the prefill); accepted drafts lower it."""
    generated = sum(o.generated for o in model_served)
    return sum(o.passes for o in model_served) / generated if generated else None


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def print_replay_table(summaries: dict[str, dict]) -> None:
    names = list(summaries)
    base, others = names[0], names[1:]
    print("\n| per keystroke | " + " | ".join(names) + " | " + " | ".join(f"{n} / {base}" for n in others) + " |")
    print("|---|" + "---|" * (len(names) + len(others)))
    for metric in summaries[base]:
        values = [summaries[n].get(metric) for n in names]
        ratios = [ratio(value, values[0]) for value in values[1:]]
        print(f"| {metric} | " + " | ".join(fmt(v) for v in values) + " | " + " | ".join(ratios) + " |")


def ratio(value, base) -> str:
    if isinstance(value, (int, float)) and isinstance(base, (int, float)) and base:
        return f"{value / base:.2f}×"
    return ""


def prefill_table(model: str, device: str, engine_kind: str, scripts: list[Script], repeats: int = 3) -> None:
    """Engine cost of a cold prompt vs a keystroke that appends 1-4 tokens to a cached one."""
    from codegen_lsp.engines import create_engine
    from codegen_lsp.settings import Settings

    engine = create_engine(Settings(model=model, device=device, engine=engine_kind, kv_cache_slots=1))
    engine.load(lambda message, pct: None)
    prompt = scripts[0].before
    extension = keystroke_extension(engine, prompt, scripts[0].typed)

    def prefill_ms(text: str) -> tuple[float, int]:
        ids = engine.encode(text)[-(engine.context_window - 64):]
        started = time.perf_counter()
        engine.model.prefill(ids)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        return (time.perf_counter() - started) * 1000, len(ids)

    cold, warm = [], []
    for _ in range(repeats):
        engine.model.reset()
        ms, prompt_tokens = prefill_ms(prompt)
        cold.append(ms)
        ms, _ = prefill_ms(prompt + extension)  # reuses the cached prompt
        warm.append(ms)
    appended = engine.count_tokens(prompt + extension) - engine.count_tokens(prompt)
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"\n| prefill ({engine.name} engine, {device}) | prompt tokens | ms (median of {repeats}) | share of cold |")
    print("|---|---|---|---|")
    print(f"| cold prompt | {prompt_tokens} | {c:.1f} | 100% |")
    print(f"| keystroke appending {appended} tokens, KV reused | {prompt_tokens + appended} | {w:.1f} | {100 * w / c:.1f}% |")
    engine.close()


def keystroke_extension(engine, prompt: str, typed: str, tokens: int = 4) -> str:
    """The shortest start of the typed text that adds `tokens` tokens to the prompt."""
    base = engine.count_tokens(prompt)
    for end in range(1, len(typed) + 1):
        if engine.count_tokens(prompt + typed[:end]) - base >= tokens:
            return typed[:end]
    return typed


def plot(results: list[ModeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for result in results:
        latencies = sorted(o.latency_ms for o in result.outcomes if o.latency_ms is not None)
        if latencies:
            ax.plot(latencies, [(i + 1) / len(result.outcomes) for i in range(len(latencies))], label=result.name)
    ax.set_xscale("log")
    ax.set_xlabel("keystroke → answer (ms, log scale)")
    ax.set_ylabel("share of keystrokes answered")
    ax.set_title("typing replay: latency CDF (unanswered = cancelled by the next key)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


def build_shape(shape: str) -> str:
    from tiny_model import build_tiny_model

    directory = Path(tempfile.mkdtemp(prefix=f"codegen-{shape}-"))
    build_tiny_model(directory, **SHAPES[shape])
    return str(directory)


async def main_async(args) -> None:
    model = args.model or build_shape(args.shape)
    files = [Path(f) for f in args.files] if args.files else default_files()
    scripts = make_scripts(files, args.context_lines, args.keys)
    print(f"model: {args.model or args.shape + ' shape, random weights'}; device {args.device}; "
          f"engine {args.engine}; files: {', '.join(str(s.path) for s in scripts)}; {sum(len(s.typed) for s in scripts)} keystrokes; "
          f"pause {args.pause * 1000:.0f} ms, {args.line_pause * 1000:.0f} ms at line ends; "
          f"max_new_tokens {args.max_new_tokens}{'; closed loop' if args.closed_loop else ''}"
          f"{f'; {args.busy} CPU-bound processes beside it' if args.busy else ''}"
          f"{'; accepting hints that match' if args.accept else ''}")
    prefill_table(model, args.device, args.engine, scripts)
    if args.variants:
        results = await run_variants(args, model, scripts)
    else:
        results = [await run_mode(name, args, model, scripts) for name in MODES]
    print_replay_table({r.name: summarize(r) for r in results})
    if args.png:
        plot(results, Path(args.png))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a local model directory")
    parser.add_argument("--shape", choices=SHAPES, default="350m", help="random model of this shape (no --model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--engine", default="auto", help="auto | fast | transformers")
    parser.add_argument("--variants", help="comma list of today, auto, ENGINE[:THREADS]: one server each, interleaved")
    parser.add_argument("--chunk", type=int, default=25, help="with --variants: keystrokes typed into one server in a row")
    parser.add_argument("--files", nargs="*", help="source files to type (default: two stdlib modules)")
    parser.add_argument("--context-lines", type=int, default=120, help="lines already in the file (the prompt)")
    parser.add_argument("--keys", type=int, default=200, help="keystrokes in all")
    parser.add_argument("--pause", type=float, default=0.15, help="seconds between keys")
    parser.add_argument("--line-pause", type=float, default=1.5, help="seconds after a newline")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--closed-loop", action="store_true", help="each key waits for its answer (no cancelling)")
    parser.add_argument("--accept", action="store_true",
                        help="take the ghost text when it is what is typed next (Tab, or its first words)")
    parser.add_argument("--kept-wait", type=float, default=31.0,
                        help="with --accept: seconds to wait at the end so the 30-s retention checks are measured")
    parser.add_argument("--busy", type=int, default=0,
                        help="CPU-bound processes spinning beside the servers for the whole run (another program, "
                             "a build, the editor itself: the machine a laptop user has)")
    parser.add_argument("--png", default=str(ROOT / "docs" / "typing_latency.png"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        asyncio.run(main_async(args))
    finally:
        for spinner in spinners:
            spinner.kill()


if __name__ == "__main__":
    main()
