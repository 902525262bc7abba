"""A team on one server: N real codegen-lsp processes (stdio), each replaying typing into its own file, against
ONE llama-server with N parallel slots that this benchmark starts on 127.0.0.1.

Each editor sends what editors send per key (didChange, then inlineCompletion) and cancels an unanswered request
when its next key is due ($/cancelRequest), as typing_replay.py does; the editors start a fraction of a key apart.
Per N it reports: keystroke latency p50/p95 (answered keys), the share answered before the next key, requests
cancelled, the server's prompt tokens served from its prefix cache, and the server's busy slots right after
the last key and how soon all are idle again (cancellation must free them). It checks its own accounting: every request of
every editor got exactly one response.

    python benchmarks/team.py                       # N = 1, 4, 8, 16, a random Llama GGUF (hidden 128, 2 layers)
    python benchmarks/team.py --editors 1 4 --keys 30 --png /tmp/team.png

llama-server comes from scripts/build-llama-server.sh (.tools/llama-server) or $LLAMA_SERVER.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # remote_servers: the GGUF writer and the server process helper

from typing_replay import ReplayClient, inline_request, pct, stats  # noqa: E402


@dataclass
class Key:
    latency_ms: float | None  # None: cancelled by the next key (or failed)
    kind: str = ""


@dataclass
class Editor:
    number: int
    path: Path
    client: ReplayClient | None = None
    keys: list[Key] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # request ids of inlineCompletion requests
    responses: Counter = field(default_factory=Counter)  # request id -> responses received
    last_key_at: float = 0.0
    stats: dict = field(default_factory=dict)


def team_files(count: int) -> list[Path]:
    """Real source files nobody wrote for this benchmark, one per editor: standard-library modules."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if 8_000 < p.stat().st_size < 60_000)
    random.Random(14).shuffle(files)
    return files[:count]


def start_server(gguf: Path, slots: int, slot_context: int, threads: int, log_dir: Path):
    from remote_servers import LLAMA_SERVER, ServerProcess, free_port

    if not (LLAMA_SERVER.is_file() and os.access(LLAMA_SERVER, os.X_OK)):
        raise SystemExit(f"{LLAMA_SERVER} is absent: build it with scripts/build-llama-server.sh")
    port = free_port()
    command = [
        str(LLAMA_SERVER), "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", str(slot_context * slots), "--parallel", str(slots), "--threads", str(threads),
        "--alias", "team-llama",
    ]  # fmt: skip
    return ServerProcess(command, port, log_dir / f"llama-server-{slots}.log").start()


async def start_editor(editor: Editor, api_base: str, max_new_tokens: int) -> None:
    client = ReplayClient()
    await client.start_io(sys.executable, "-m", "codegen_lsp", "--stdio", "--log-level", "error")
    handle = client.protocol.handle_message

    def counting(message):  # every response, by request id: "answered exactly once" is checked on these
        if getattr(message, "method", None) is None and getattr(message, "id", None) is not None:
            editor.responses[message.id] += 1
        return handle(message)

    client.protocol.handle_message = counting
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"apiBase": api_base, "maxNewTokens": max_new_tokens},
        )
    )
    client.initialized(types.InitializedParams())
    while (s := await stats(client))["state"] not in ("ready", "failed"):
        await asyncio.sleep(0.2)
    if s["state"] == "failed":
        raise SystemExit(f"editor {editor.number}: {s['error']}")
    editor.client = client


async def type_file(editor: Editor, keys: int, pause: float, line_pause: float, context_lines: int, delay: float) -> None:
    client = editor.client
    lines = editor.path.read_text(encoding="utf-8").splitlines(keepends=True)
    before, typed = "".join(lines[:context_lines]), "".join(lines[context_lines:])[:keys]
    uri = f"file:///team/{editor.number}/{editor.path.name}"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=before))
    )
    await asyncio.sleep(delay)
    line, column = before.count("\n"), len(before) - (before.rfind("\n") + 1)
    for version, ch in enumerate(typed, start=2):
        here = types.Position(line, column)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [types.TextDocumentContentChangePartial(range=types.Range(here, here), text=ch)],
            )
        )
        line, column = (line + 1, 0) if ch == "\n" else (line, column + 1)
        msg_id = 100_000 + version
        editor.sent.append(msg_id)
        editor.keys.append(await ask(client, uri, line, column, msg_id, line_pause if ch == "\n" else pause))
    editor.last_key_at = time.monotonic()


async def ask(client: ReplayClient, uri: str, line: int, column: int, msg_id: int, pause: float) -> Key:
    """One inlineCompletion, cancelled when no answer came before the next key is due."""
    request, sent, latency_ms = await inline_request(client, uri, line, column, msg_id, pause)
    if latency_ms is None:
        return Key(None, "cancelled")
    remaining = pause - (time.perf_counter() - sent)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return Key(None, "error") if request.exception() is not None else Key(latency_ms, "answered")


def busy_slots(server) -> int | None:
    import httpx

    try:
        slots = httpx.get(f"{server.root}/slots", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    return sum(1 for slot in slots if slot.get("is_processing")) if isinstance(slots, list) else None


async def run_team(n: int, args, gguf: Path, log_dir: Path) -> dict:
    server = start_server(gguf, n, args.slot_context, args.threads, log_dir)
    editors = [Editor(i, path) for i, path in enumerate(team_files(n))]
    try:
        await asyncio.gather(*(start_editor(e, server.api_base, args.max_new_tokens) for e in editors))
        started = time.monotonic()
        await asyncio.gather(*(
            type_file(e, args.keys, args.pause, args.line_pause, args.context_lines, delay=args.pause * i / n)
            for i, e in enumerate(editors)
        ))  # fmt: skip
        wall = time.monotonic() - started
        busy_now, last_key = busy_slots(server), time.monotonic()
        busy_later = busy_now
        while busy_later and time.monotonic() - last_key < 40:  # cancellation must free them: how soon?
            await asyncio.sleep(0.25)
            busy_later = busy_slots(server)
        freed_after = time.monotonic() - last_key if busy_later == 0 else None
        deadline = time.monotonic() + 10  # the last cancellations' answers are on their way
        while any(e.responses[i] < 1 for e in editors for i in e.sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for e in editors:
            e.stats = await stats(e.client)
    finally:
        for e in editors:
            if e.client is not None:
                await e.client.shutdown_async(None)
                e.client.exit(None)
                await e.client.stop()
        server.stop()
    keys = [k for e in editors for k in e.keys]
    answered = [k.latency_ms for k in keys if k.latency_ms is not None]
    lost = sum(1 for e in editors for i in e.sent if e.responses[i] != 1)
    totals = Counter()
    for e in editors:
        totals.update({k: e.stats.get(k, 0) for k in ("cancelled", "superseded", "errors", "tokens_prefilled", "tokens_reused")})
    prompt = totals["tokens_prefilled"] + totals["tokens_reused"]
    return {
        "editors (= slots)": n,
        "keystrokes": len(keys),
        "latency p50 ms": pct(answered, 0.5),
        "latency p95 ms": pct(answered, 0.95),
        "answered before the next key %": 100 * len(answered) / max(1, len(keys)),
        "requests cancelled": sum(1 for k in keys if k.kind == "cancelled"),
        "errors": sum(1 for k in keys if k.kind == "error") + totals["errors"],
        "prompt tokens from the server's cache %": 100 * totals["tokens_reused"] / prompt if prompt else None,
        "busy slots right after the last key": busy_now,
        "all slots idle again after s": freed_after if busy_now else 0.0,
        "requests not answered exactly once": lost,
        "wall s": wall,
        "_latencies": sorted(answered),
    }


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def print_table(rows: list[dict]) -> None:
    metrics = [m for m in rows[0] if not m.startswith("_")]
    print("\n| per N | " + " | ".join(f"N = {r['editors (= slots)']}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for metric in metrics[1:]:
        print(f"| {metric} | " + " | ".join(fmt(r[metric]) for r in rows) + " |")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for row in rows:
        latencies = row["_latencies"]
        if latencies:
            shares = [(i + 1) / row["keystrokes"] for i in range(len(latencies))]
            left.plot(latencies, shares, label=f"N = {row['editors (= slots)']}")
    left.set_xscale("log")
    left.set_xlabel("keystroke → answer (ms, log scale)")
    left.set_ylabel("share of keystrokes answered")
    left.set_title("latency CDF (unanswered = cancelled by the next key)")
    left.grid(True, which="both", alpha=0.3)
    left.legend()
    ns = [r["editors (= slots)"] for r in rows]
    for metric, marker in (("latency p50 ms", "o-"), ("latency p95 ms", "s-")):  # N with no answer: no point
        points = [(n, r[metric]) for n, r in zip(ns, rows) if r[metric] is not None]
        right.plot([n for n, _ in points], [v for _, v in points], marker, label=metric.replace("latency ", ""))
    right.set_xlabel("editors typing at once (server slots)")
    right.set_ylabel("ms")
    twin = right.twinx()
    twin.plot(ns, [r["answered before the next key %"] for r in rows], "^--", color="grey", label="answered %")
    twin.set_ylabel("answered before the next key (%)")
    twin.set_ylim(0, 105)
    right.set_title("one llama-server, N slots")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper left")
    twin.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


async def main_async(args) -> None:
    from remote_servers import write_tiny_gguf

    work = Path(tempfile.mkdtemp(prefix="codegen-team-"))
    gguf = write_tiny_gguf(work / "team.gguf", context=args.slot_context, hidden=args.hidden, layers=args.layers)
    print(
        f"one llama-server ({args.threads} threads), random Llama GGUF hidden {args.hidden}, {args.layers} layers, "
        f"{args.slot_context}-token slots; each editor types {args.keys} keys of its own stdlib file after "
        f"{args.context_lines} lines, {args.pause * 1000:.0f} ms apart ({args.line_pause * 1000:.0f} ms at line ends), "
        f"max_new_tokens {args.max_new_tokens}; on {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    rows = []
    for n in args.editors:
        row = await run_team(n, args, gguf, work)
        rows.append(row)
        print(f"  N = {n}: p50 {fmt(row['latency p50 ms'])} ms, answered {fmt(row['answered before the next key %'])}%, "
              f"{row['wall s']:.1f} s", file=sys.stderr)  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print_table(rows)
    if args.png:
        plot(rows, Path(args.png))
    lost = sum(r["requests not answered exactly once"] for r in rows)
    if lost:
        raise SystemExit(f"{lost} requests were not answered exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--editors", type=int, nargs="+", default=[1, 4, 8, 16], help="team sizes N (= server slots)")
    parser.add_argument("--keys", type=int, default=40, help="keystrokes per editor")
    parser.add_argument("--pause", type=float, default=0.15, help="seconds between keys")
    parser.add_argument("--line-pause", type=float, default=0.6, help="seconds after a newline")
    parser.add_argument("--context-lines", type=int, default=30, help="lines already in each file")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128, help="the random model's width")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--slot-context", type=int, default=4096, help="tokens of context per slot")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama-server's threads (1: its threads spin while they wait, and on 2 shared cores two "
                             "of them made requests 10-100x slower in a side-by-side check)")
    parser.add_argument("--png", default=str(ROOT / "docs" / "team_latency.png"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
