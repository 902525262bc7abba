"""`codegen-lsp check`: does the configured model work on this machine, and how fast does it answer?

It loads the model the flags name (a progress line on stderr), runs one completion on a built-in snippet
through the same pipeline as the server, then a second one after three more typed characters (the keystroke
case: the prompt's start is already in the engine's KV cache), and prints what it runs on. Each problem found
is one line that says what to change.

Exit codes: 0 the model loads and completes (problem lines may still say how it would run better, e.g. a
CPU-only torch on a machine with an NVIDIA GPU); 1 it does not work here (the lines say why); 2 a bad flag.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Callable, TextIO

from .completion import Completer
from .engines import EngineKind, choose_engine
from .settings import Settings

WORKS, FAILS = 0, 1

# A file being written: the cursor at the start of a loop body, where any code model has something to say.
SNIPPET = (
    "import os\n\n\n"
    "def python_files(directory):\n"
    '    """The paths of the .py files under directory, sorted."""\n'
    "    found = []\n"
    "    for root, _dirs, names in os.walk(directory):\n"
    "        "
)
TYPED = "for"  # what the user types next: the keystroke completion's prompt extends the first one's
SNIPPET_URI = "untitled:codegen-lsp-check.py"

CUDA_WHEELS = "https://download.pytorch.org/whl/cu128"


def machine_problems(settings: Settings, machine) -> tuple[list[str], bool]:
    """Problems of torch on this machine for the device setting (`machine`: loading.Machine), each one line
    that says what to change; True when one of them stops the model from loading."""
    device = settings.device
    cpu_only = machine.cuda_build is None
    if device.startswith("cuda") and not machine.cuda_available:
        if cpu_only:
            return [f"device {device}: torch {machine.torch_version} is a CPU-only build; install the CUDA build "
                    f"(pip install torch --index-url {CUDA_WHEELS}) or set --device cpu"], True
        return [f"device {device}: torch {machine.torch_version} (CUDA {machine.cuda_build}) sees no CUDA device; "
                "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or set --device cpu"], True
    if device == "mps" and not machine.mps_available:
        return ["device mps: this torch has no Metal (MPS) device here; set --device cpu (or auto)"], True
    if device == "auto" and machine.nvidia_gpu_present and not machine.cuda_available:
        if cpu_only:
            why = f"torch {machine.torch_version} is a CPU-only build"
            fix = f"install the CUDA build (pip install torch --index-url {CUDA_WHEELS}) to use it"
        else:
            why = f"torch (CUDA {machine.cuda_build}) cannot use it"
            fix = "check that the driver supports that CUDA version (nvidia-smi)"
        return [f"this machine has an NVIDIA GPU but {why}, so the model runs on the CPU; {fix}"], False
    return [], False


def probe_machine():
    from .engines.local.loading import probe_machine as probe

    return probe()


class ProgressLine:
    """One line on stderr that each step rewrites on a terminal (one line per step elsewhere)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.rewrites = stream.isatty()

    def __call__(self, message: str, percentage: int | None = None) -> None:
        text = f"codegen-lsp check: {message}" + (f" ({percentage}%)" if percentage is not None else "")
        if self.rewrites:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.rewrites:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run_check(
    settings: Settings,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    machine_probe: Callable[[], object] = probe_machine,
) -> int:
    """Check `settings`' model here and print the report to `out`; the exit code (WORKS or FAILS).
    `machine_probe`: what torch can run on (a seam for tests)."""
    problems: list[str] = []
    rows: list[tuple[str, str]] = [("model", settings.model)]
    fatal = False
    if choose_engine(settings) is not EngineKind.OPENAI:
        machine = machine_probe()
        found, fatal = machine_problems(settings, machine)
        problems += found
        build = f"CUDA {machine.cuda_build}" if machine.cuda_build else "CPU-only build"
        rows.append(("torch", f"{machine.torch_version} ({build}); GPUs: {', '.join(machine.gpus) or 'none'}"))
    if not fatal:
        rows += measure(settings, problems, ProgressLine(err))
    for name, value in rows:
        out.write(f"{name:<18}{value}\n")
    for problem in problems:
        out.write(f"problem: {problem}\n")
    works = not fatal and any(name == "first completion" for name, _ in rows)
    out.write("works: the model loads and completes here\n" if works else "does not work here: see the problems above\n")
    return WORKS if works else FAILS


def measure(settings: Settings, problems: list[str], progress: ProgressLine) -> list[tuple[str, str]]:
    """Load and complete twice; the report's rows (problems appended to `problems`)."""
    completer = Completer(settings, on_error=problems.append)
    rows: list[tuple[str, str]] = []

    async def complete(text: str) -> tuple[float, list, str]:
        started = time.perf_counter()
        shown = await completer.complete(SNIPPET_URI, text, len(text), "python")
        return (time.perf_counter() - started) * 1000, shown, served_by(completer.stats.snapshot()["last"])

    async def run() -> None:
        progress("loading the model", 0)
        started = time.perf_counter()
        loaded = await completer.load(lambda message, percentage: progress(message, percentage))
        load_seconds = time.perf_counter() - started
        progress.end()
        status = completer.status()
        if not loaded:
            return
        runtime = status["runtime"]
        rows.extend([
            ("engine", str(status["engine"])),
            ("device", str(runtime.get("device", "-"))),
            ("dtype", str(runtime.get("dtype", "-"))),
            ("weights", f"{runtime['weights_mib']} MiB" if "weights_mib" in runtime else "-"),
            ("load", f"{load_seconds:.1f} s"),
        ])
        progress("first completion")
        first_ms, shown, first = await complete(SNIPPET)
        progress("keystroke completion")
        keystroke_ms, _, keystroke = await complete(SNIPPET + TYPED)
        progress.end()
        if completer.stats.snapshot()["errors"]:
            return  # on_error said why
        rows.append(("first completion", f"{first_ms:.0f} ms ({first})"))
        rows.append(("keystroke", f"{keystroke_ms:.0f} ms ({keystroke}, after typing {TYPED!r})"))
        facts = " ".join(f"{key}={value}" for key, value in sorted(runtime.items()))
        rows.append(("runtime", facts or "-"))
        text = shown[0].insert_text if shown else ""
        rows.append(("completion", repr(text) if text else "(none: the filters kept nothing; the model still ran)"))

    try:
        asyncio.run(run())
    finally:
        progress.end()
        completer.close()
    return rows


def served_by(trace: dict) -> str:
    """How a completion was served, from its trace: model-served with its token counts, or from a cache."""
    if trace.get("outcome") != "model":
        return f"served from the {trace.get('outcome', 'unknown')} path, no model call"
    return (f"model-served: {trace.get('prefilled', 0)} prompt tokens computed, {trace.get('reused', 0)} reused, "
            f"{trace.get('generated', 0)} generated")
