"""`codegen-lsp check` and the first things a new user meets: each diagnosis says what to change, the exit
code says whether it works; a model that cannot load says so at once; `complete` and `--stdio` explain
themselves."""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen_lsp.check import FAILS, WORKS, machine_problems, run_check
from codegen_lsp.cli import complete_position
from codegen_lsp.engines import EngineError
from codegen_lsp.engines.local.loading import Machine, model_source
from codegen_lsp.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "codegen_lsp"]

CPU_ONLY_ON_GPU_MACHINE = Machine("2.13.0+cpu", None, False, (), nvidia_gpu_present=True, mps_available=False)
LAPTOP = Machine("2.13.0+cpu", None, False, (), nvidia_gpu_present=False, mps_available=False)
DRIVER_TOO_OLD = Machine("2.13.0", "12.8", False, (), nvidia_gpu_present=True, mps_available=False)
GPU_BOX = Machine("2.13.0", "12.8", True, ("NVIDIA H100",), nvidia_gpu_present=True, mps_available=False)


def check(settings: Settings, machine: Machine) -> tuple[int, str]:
    out = io.StringIO()
    code = run_check(settings, out=out, err=io.StringIO(), machine_probe=lambda: machine)
    return code, out.getvalue()


def problems(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("problem: ")]


# -- torch and the device ---------------------------------------------------------------------------------
def test_a_cpu_only_torch_on_a_gpu_machine_works_on_the_cpu_and_says_how_to_use_the_gpu():
    found, fatal = machine_problems(Settings(device="auto"), CPU_ONLY_ON_GPU_MACHINE)
    assert not fatal and len(found) == 1
    assert "CPU-only build" in found[0] and "--index-url https://download.pytorch.org/whl/cu" in found[0]


def test_device_cuda_without_cuda_does_not_work_and_names_both_fixes():
    found, fatal = machine_problems(Settings(device="cuda"), LAPTOP)
    assert fatal and "CUDA build" in found[0] and "--device cpu" in found[0]
    found, fatal = machine_problems(Settings(device="cuda:1"), DRIVER_TOO_OLD)
    assert fatal and "sees no CUDA device" in found[0] and "nvidia-smi" in found[0]


def test_a_machine_that_can_run_what_the_settings_ask_has_no_problem():
    assert machine_problems(Settings(device="auto"), GPU_BOX) == ([], False)
    assert machine_problems(Settings(device="cpu"), CPU_ONLY_ON_GPU_MACHINE) == ([], False)  # asked for the CPU
    assert machine_problems(Settings(device="auto"), LAPTOP) == ([], False)


def test_check_stops_before_loading_when_the_device_cannot_work():
    code, report = check(Settings(model="/nonexistent/model", device="cuda"), LAPTOP)
    assert code == FAILS
    assert len(problems(report)) == 1 and "CPU-only" in report  # the device, not the model it never tried
    assert report.rstrip().endswith("does not work here: see the problems above")


# -- the model's source -------------------------------------------------------------------------------------
def test_a_path_that_does_not_exist_is_one_line_naming_the_directory_and_the_flag(tmp_path):
    missing = tmp_path / "models" / "codegen-350M-multi"
    code, report = check(Settings(model=str(missing), device="cpu"), LAPTOP)
    assert code == FAILS
    assert problems(report) == [
        f"problem: no such directory: {missing}; set model (--model) to a local model directory or a hub id such "
        "as Salesforce/codegen-350M-multi"
    ]


def test_an_uncached_hub_model_offline_says_so_at_once_with_the_cache_and_the_directory_option():
    code, report = check(Settings(model="codegen-lsp-tests/not-downloaded", device="cpu"), LAPTOP)
    assert code == FAILS
    [line] = problems(report)
    assert "HF_HUB_OFFLINE=1" in line and "not in the Hugging Face cache" in line and "(--model)" in line
    assert "local directory" in line


def test_an_unreachable_hub_is_asked_once_and_the_message_names_what_to_change():
    asked = []

    def unreachable(model_id, revision):
        asked.append((model_id, revision))
        return "[Errno -2] Name or service not known"

    with pytest.raises(EngineError) as raised:
        model_source("Salesforce/codegen-350M-multi", "main", reach=unreachable, offline=False)
    assert asked == [("Salesforce/codegen-350M-multi", "main")]
    message = str(raised.value)
    assert "cannot reach the Hugging Face hub" in message and "Name or service not known" in message
    assert "HF_HUB_OFFLINE=1" in message and "(--model)" in message and "cache (" in message


def test_a_missing_draft_model_directory_names_the_draft_model_setting():
    with pytest.raises(EngineError, match=r"no such directory: /no/draft; set draftModel \(--draft-model\)"):
        model_source("/no/draft", setting="draftModel (--draft-model)")


def test_a_local_directory_is_never_looked_up_on_the_hub(tiny_model_dir):
    model_source(str(tiny_model_dir), reach=lambda *args: pytest.fail("asked the hub"), offline=False)


def test_a_model_that_is_not_a_causal_lm_says_so(tiny_model_dir, tmp_path):
    from transformers import T5Config

    model = tmp_path / "t5"
    shutil.copytree(tiny_model_dir, model)
    (model / "config.json").unlink()
    T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8, vocab_size=2048).save_pretrained(model)
    code, report = check(Settings(model=str(model), device="cpu"), LAPTOP)
    assert code == FAILS
    [line] = problems(report)
    assert "is not a causal language model" in line and "(--model)" in line


@pytest.mark.slow
def test_an_unreachable_hub_fails_at_once_with_one_line_and_no_retries(tmp_path):
    """A closed port stands for the unreachable hub; huggingface_hub alone retried for ~49 s, twenty lines."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(CLI + ["check", "--device", "cpu", "--log-level", "warning"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == FAILS, done.stderr
    [line] = problems(done.stdout)
    assert "cannot reach the Hugging Face hub" in line and "Salesforce/codegen-350M-multi" in line
    assert "Retrying" not in done.stderr + done.stdout  # huggingface_hub's own five retries took 49 s


@pytest.mark.slow
def test_a_cached_hub_model_loads_from_the_cache_at_once_when_the_hub_is_unreachable(tmp_path, tiny_model_dir):
    """huggingface_hub alone retried each file five times: 2 min 49 s for a cached model behind a closed port."""
    repo = tmp_path / "hf" / "hub" / "models--codegen-lsp-tests--cached-tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(CLI + ["check", "--model", "codegen-lsp-tests/cached-tiny", "--device", "cpu",
                                 "--log-level", "warning"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert done.returncode == WORKS, done.stdout + done.stderr
    assert "Retrying" not in done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "hub cannot be reached" in line]
    assert "loading the cached copy of 'codegen-lsp-tests/cached-tiny'" in warning
    assert done.stdout.startswith("model             codegen-lsp-tests/cached-tiny\n")


@pytest.mark.slow
@pytest.mark.shared_model
def test_check_on_the_shared_model_works_and_prints_what_it_runs_on(shared_model_dir):
    done = subprocess.run(CLI + ["check", "--model", str(shared_model_dir), "--device", "cpu"], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == WORKS, done.stdout + done.stderr
    rows = dict(line.split(None, 1) for line in done.stdout.splitlines() if line and not line.startswith("works"))
    assert rows["device"] == "cpu" and rows["dtype"] == "float32" and rows["engine"] in ("transformers", "fast")
    assert float(rows["weights"].split()[0]) > 10  # MiB: a 20M-parameter model in float32
    assert "model-served" in rows["first"] and "model-served" in rows["keystroke"]
    assert "reused" in rows["keystroke"] and "device=cpu" in rows["runtime"]
    assert "codegen-lsp check: loading weights" in done.stderr and "Loading weights" not in done.stderr


# -- complete ---------------------------------------------------------------------------------------------
def test_complete_positions_are_1_based_after_colons_and_0_based_as_flags(tmp_path):
    assert complete_position("app.py:42:9", None, None) == (Path("app.py"), 41, 8)
    assert complete_position("app.py", 41, 8) == (Path("app.py"), 41, 8)
    assert "count from 1" in complete_position("app.py:0:1", None, None)
    assert "FILE:LINE:COL" in complete_position("app.py", None, None)
    odd = tmp_path / "odd:1:2"  # a file whose name looks like a position is that file
    odd.write_text("x")
    assert "FILE:LINE:COL" in complete_position(str(odd), None, None)


@pytest.mark.slow
def test_complete_says_why_there_is_no_suggestion_and_exits_3(tmp_path, tiny_model_dir):
    source = tmp_path / "mid.py"
    source.write_text("def add(a, b):\n    return a + b\n")
    done = subprocess.run(CLI + ["complete", f"{source}:2:12", "--model", str(tiny_model_dir), "--device", "cpu"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "codegen-lsp: no suggestion (the cursor is inside a word" in done.stderr


# -- --stdio ----------------------------------------------------------------------------------------------
def test_stdio_on_a_terminal_says_it_waits_for_a_client_and_eof_exits_cleanly():
    primary, secondary = pty.openpty()
    server = subprocess.Popen(CLI + ["--stdio"], stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=ROOT)
    os.close(secondary)
    try:
        first = server.stderr.readline().decode()
        assert "waiting for an LSP client" in first and "codegen-lsp check" in first and "complete" in first
        os.write(primary, b"\x04")  # Ctrl-D: end of input before any client spoke
        assert server.wait(timeout=60) == 0
        assert server.stdout.read() == b""  # stdout is the protocol's
    finally:
        server.kill() if server.poll() is None else None
        os.close(primary)


def test_stdio_from_a_pipe_says_nothing_and_exits_0_on_eof():
    done = subprocess.run(CLI + ["--stdio"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout == b"" and b"waiting" not in done.stderr
