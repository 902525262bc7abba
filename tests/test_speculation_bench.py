"""benchmarks/speculation.py runs on a CPU and holds speculative decoding to plain greedy's text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_speculation_benchmark_runs_on_cpu_with_identical_texts(tiny_model_dir, tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/speculation.py", "--model", str(tiny_model_dir), "--device", "cpu",
         "--cursors", "2", "--new", "8", "--draft", "2,4", "--context-tokens", "256", "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.startswith("machine: ") and "command: python benchmarks/speculation.py" in done.stdout
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [(r["engine"], r["drafting"]) for r in rows] == [
        (engine, drafting) for engine in ("fast", "transformers")
        for drafting in ("plain greedy", "prompt lookup, k=2", "prompt lookup, k=4")
    ]
    assert all(r["identical"] == r["cursors"] == 2 for r in rows)
    assert "| fast | prompt lookup, k=2 | 2/2 |" in done.stdout and "TEXT MISMATCH" not in done.stdout


def test_a_speculative_text_that_differs_is_reported_with_its_cursor():
    import speculation
    from codegen_lsp.engines.base import Generation
    from quality import Case

    case = Case("pkg/mod.py", "mid-line", "x = f(", ")\n", "a)", 4)

    def run(text: str):
        return speculation.Run(1.0, 1.0, Generation(text=text, finish_reason="length"), text)

    found = speculation.mismatches("fast", [case], {"plain greedy": [run("a, b)")], "prompt lookup, k=4": [run("a, c)")]})
    assert [(m["drafting"], m["run"], m["file"], m["cursor_offset"], m["first_difference"]) for m in found] == [
        ("prompt lookup, k=4", "warm", "pkg/mod.py", 6, 3), ("prompt lookup, k=4", "cold", "pkg/mod.py", 6, 3),
    ]
