"""Large inputs and long sessions, before and after, side by side in one run.

1. Time per one-character edit on 1 KB, 1 MB and 20 MB documents, and its ratio to the 1 KB time:
   `rebuild` applies an edit as the document model did before (documents.apply_change: every line start found
   again and the whole text built anew), `table` as it does now (documents.LineTable: the edited lines are
   split again and spliced in). The two run interleaved on the same documents and the same edit positions.
2. RSS after 1,000 edits of a 1 MB neighbour document, with a snippet ranking (what each completion does)
   after every edit: `per-text` caches snippet windows as before (functools.lru_cache of 64 texts: every
   version of the neighbour is a new entry), `per-document` as now (snippets.WindowCache: one version per
   document). Each runs in a fresh process (RSS is per process); the table shows both.

    python benchmarks/reliability.py --edits 30      # both parts: 16 min on 2 busy cores (the `before` rows)
    python benchmarks/reliability.py --edits 5 --neighbour-edits 100   # a quick look
"""

from __future__ import annotations

import argparse
import functools
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402

from codegen_lsp import snippets  # noqa: E402
from codegen_lsp.lsp.documents import LineTable, apply_change  # noqa: E402

UTF16 = types.PositionEncodingKind.Utf16
SIZES = {"1 KB": 1 << 10, "1 MB": 1 << 20, "20 MB": 20 << 20}
LINE = "    result = compute(values[index], weight=0.5)  # one line of code\n"


def document(size: int) -> str:
    return (LINE * (size // len(LINE) + 1))[:size]


def edit_positions(text: str, count: int, seed: int = 7) -> list[types.Position]:
    """Where the one-character edits go: random lines, a column inside the line."""
    lines = text.count("\n") or 1
    rng = random.Random(seed)
    return [types.Position(line=rng.randrange(lines), character=rng.randrange(1, 20)) for _ in range(count)]


def time_edits(size: int, edits: int) -> dict[str, float]:
    """Median seconds per one-character insert for each way of applying it, interleaved edit by edit."""
    text = document(size)
    table = LineTable(text)
    rebuilt = text
    times: dict[str, list[float]] = {"rebuild": [], "table": []}
    for position in edit_positions(text, edits):
        start = time.perf_counter()
        rebuilt, _ = apply_change(rebuilt, position, position, "x", UTF16)
        times["rebuild"].append(time.perf_counter() - start)
        start = time.perf_counter()
        table.replace(position, position, "x", UTF16)
        times["table"].append(time.perf_counter() - start)
    if table.text != rebuilt:
        raise SystemExit("the two ways of editing disagree: the benchmark is void")
    return {name: statistics.median(samples) for name, samples in times.items()}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def neighbour_child(kind: str, edits: int) -> None:
    """In a fresh process: 1,000 edits of a 1 MB neighbour, a snippet ranking after each; prints RSS."""
    if kind == "per-text":  # the cache as it was: keyed by the text, 64 entries
        cached = functools.lru_cache(maxsize=64)(snippets._windows)
        snippets.WINDOWS.windows = lambda path, text, window_lines: cached(text, window_lines)  # type: ignore[method-assign]
    text = document(1 << 20)
    table = LineTable(text)
    query = "result = compute(values[index], weight=0.5)\n"
    before = rss_mib()
    for position in edit_positions(text, edits, seed=11):
        table.replace(position, position, "x", UTF16)
        neighbour = snippets.Neighbour("/work/neighbour.py", "python", table.text)
        snippets.rank_snippets(query, [neighbour], "python")
    print(f"{before:.1f} {rss_mib():.1f}")


def neighbour_rss(kind: str, edits: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", kind, "--neighbour-edits", str(edits)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=100, help="timed one-character edits per document size")
    parser.add_argument("--neighbour-edits", type=int, default=1000)
    parser.add_argument("--rss-child", choices=["per-text", "per-document"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        neighbour_child(args.rss_child, args.neighbour_edits)
        return

    print(f"# reliability: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("\n## One-character edit (median of", args.edits, "edits per size, interleaved)\n")
    print("| document | rebuild (before) | ratio to 1 KB | table (now) | ratio to 1 KB | before / now |")
    print("|---|---|---|---|---|---|")
    base: dict[str, float] | None = None
    for label, size in SIZES.items():
        median = time_edits(size, args.edits)
        base = base or median
        print(
            f"| {label} | {median['rebuild'] * 1e6:,.1f} µs | {median['rebuild'] / base['rebuild']:,.0f}x "
            f"| {median['table'] * 1e6:,.1f} µs | {median['table'] / base['table']:,.1f}x "
            f"| {median['rebuild'] / median['table']:,.0f}x |"
        )
    print(f"\n## RSS after {args.neighbour_edits:,} edits of a 1 MB neighbour, a snippet ranking after each\n")
    print("| snippet windows cached | RSS before the edits | RSS after | growth |")
    print("|---|---|---|---|")
    for kind in ("per-text", "per-document"):
        before, after = neighbour_rss(kind, args.neighbour_edits)
        when = "(before)" if kind == "per-text" else "(now)"
        print(f"| {kind} {when} | {before:,.0f} MiB | {after:,.0f} MiB | {after - before:+,.0f} MiB |")


if __name__ == "__main__":
    main()
