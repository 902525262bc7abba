"""Soak: drive the real server over stdio for minutes (typing, completions, cancellations, documents closed and
opened again) and report its resident memory over time. A leak shows as RSS that keeps climbing after warm-up.

    python benchmarks/soak.py --minutes 5                      # the shared pycodegen-tiny model when present
    python benchmarks/soak.py --model path/to/model --minutes 30 --rate 20

Prints one row per sample (RSS, requests sent and answered, model calls) and, at the end, the RSS growth after
warm-up and its slope (least squares over the samples after warm-up), next to the sample-to-sample noise.
Exits 1 when a request went unanswered or was answered twice.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # raw_lsp (the byte-level client) and tiny_model

from raw_lsp import RawServer, inline_params  # noqa: E402

SHARED_MODEL = ROOT.parent / "shared" / "models" / "pycodegen-tiny"
EDITS = ["x", "_", " ", "(", ")", ".", "\n    ", "value", "😀", "é"]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def source_files(count: int) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = ["textwrap.py", "shlex.py", "glob.py", "fnmatch.py", "bisect.py", "heapq.py", "colorsys.py",
             "keyword.py", "stat.py", "string.py", "token.py", "calendar.py"]
    texts = [(stdlib / n).read_text(encoding="utf-8") for n in names if (stdlib / n).is_file()]
    return [texts[i % len(texts)] for i in range(count)]


def utf16_end(text: str) -> dict:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    return statistics.linear_regression([t for t, _ in points], [r for _, r in points]).slope * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="default: ../shared/models/pycodegen-tiny, else a tiny random model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="completion requests a second")
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--warmup-seconds", type=float, default=60.0)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    model = args.model
    if model is None:
        if (SHARED_MODEL / "config.json").is_file():
            model = str(SHARED_MODEL)
        else:
            from tiny_model import build_tiny_model

            model = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny", word_bias=True))
    rng = random.Random(args.seed)
    raw = RawServer()
    raw.initialize({"model": model, "device": args.device, "maxNewTokens": args.max_new_tokens})
    status = raw.wait_until_loaded(timeout=300)
    if status["state"] != "ready":
        print(f"model failed to load: {status['error']}", file=sys.stderr)
        return 2
    print(f"model {model} on {args.device}; {args.rate:g} requests/s over {args.documents} documents "
          f"for {args.minutes:g} min; server pid {raw.proc.pid}")

    originals = source_files(args.documents)
    uris = [f"file:///soak/doc_{n}.py" for n in range(args.documents)]
    texts, versions = {}, {}

    def reopen(n: int) -> None:
        cut = rng.randrange(len(originals[n]) // 4, len(originals[n]))
        texts[uris[n]], versions[uris[n]] = originals[n][:cut], 1
        raw.open(uris[n], texts[uris[n]])

    for n in range(args.documents):
        reopen(n)

    sent: list[int] = []
    started = time.monotonic()
    next_sample = started
    samples: list[tuple[float, float]] = []
    print(f"{'t (s)':>7} {'RSS MiB':>8} {'sent':>7} {'answered':>9} {'model calls':>12} {'cancelled':>10}")
    i = 0
    while time.monotonic() - started < args.minutes * 60:
        now = time.monotonic()
        if now >= next_sample:
            stats = raw.call("codegen/stats", timeout=120)["result"]
            asked = set(sent)
            answered = sum(1 for m in list(raw.seen) if "method" not in m and m.get("id") in asked)
            rss = rss_mib(raw.proc.pid)
            samples.append((now - started, rss))
            print(f"{now - started:7.0f} {rss:8.1f} {len(sent):7d} {answered:9d} {stats['model_calls']:12d} "
                  f"{stats['cancelled']:10d}", flush=True)
            next_sample += args.sample_seconds
        lag = started + i / args.rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)
        i += 1
        n = rng.randrange(args.documents)
        uri = uris[n]
        if rng.random() < 0.01:  # the user closes a file and opens it again later
            raw.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            reopen(n)
        end = utf16_end(texts[uri])
        typed = rng.choice(EDITS)
        versions[uri] += 1
        raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": versions[uri]},
                                              "contentChanges": [{"range": {"start": end, "end": end}, "text": typed}]})
        texts[uri] += typed
        end = utf16_end(texts[uri])
        sent.append(raw.request("textDocument/inlineCompletion", inline_params(uri, end["line"], end["character"])))
        if rng.random() < 0.3:
            raw.notify("$/cancelRequest", {"id": rng.choice(sent[-3:])})

    raw.call("codegen/stats", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(sent) <= {m.get("id") for m in list(raw.seen) if "method" not in m}:
        time.sleep(0.2)
    answers = Counter(m["id"] for m in list(raw.seen) if "method" not in m and m.get("id") in set(sent))
    missing, twice = len(set(sent) - set(answers)), sum(1 for c in answers.values() if c > 1)
    code = raw.close()

    after = [(t, r) for t, r in samples if t >= args.warmup_seconds] or samples
    noise = statistics.pstdev([b - a for (_, a), (_, b) in zip(after, after[1:])]) if len(after) > 2 else 0.0
    print(f"\nrequests {len(sent)}, unanswered {missing}, answered twice {twice}; server exit code {code}")
    print(f"RSS after warm-up ({args.warmup_seconds:g} s): {after[0][1]:.1f} -> {after[-1][1]:.1f} MiB "
          f"({after[-1][1] - after[0][1]:+.1f} MiB), slope {slope_per_minute(after):+.2f} MiB/min, "
          f"sample-to-sample noise ±{noise:.1f} MiB; peak {max(r for _, r in samples):.1f} MiB")
    half = [(t, r) for t, r in samples if t >= samples[-1][0] / 2]
    print(f"second half ({half[0][0]:.0f} s on): {half[0][1]:.1f} -> {half[-1][1]:.1f} MiB, "
          f"slope {slope_per_minute(half):+.2f} MiB/min")
    return 1 if missing or twice else 0


if __name__ == "__main__":
    sys.exit(main())
