"""Running on a CPU: `engine: auto` takes the fast CodeGen engine there, torch's thread count comes from the
physical cores free to the process (the `threads` setting overrides it), and what the engine runs on is in
`codegen/stats` under "runtime"."""

from __future__ import annotations

import pytest
import torch

from codegen_lsp.completion import Completer
from codegen_lsp.engines.base import CancelToken, GenerationRequest
from codegen_lsp.engines.config import EngineKind, FastConfig, choose_engine, engine_config
from codegen_lsp.engines.local.codegen.engine import FastCodeGenEngine
from codegen_lsp.engines.local.cpu import (
    CpuCores,
    FreeCoreThreads,
    OtherLoad,
    fixed_threads,
    native_bf16,
    physical_cores,
)
from codegen_lsp.settings import Settings, parse_settings

NOOP = lambda message, percentage: None  # noqa: E731


@pytest.fixture
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# -- the engine auto picks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "auto", "cuda", "cuda:1"])
def test_auto_takes_the_fast_engine_for_codegen_on_a_cpu_as_on_cuda(tiny_model_dir, device):
    assert choose_engine(Settings(model=str(tiny_model_dir), device=device)) is EngineKind.FAST


def test_auto_keeps_transformers_where_the_fast_engine_was_not_measured(tiny_model_dir):
    assert choose_engine(Settings(model=str(tiny_model_dir), device="mps")) is EngineKind.TRANSFORMERS
    assert choose_engine(Settings(model="/models/some-llama", device="cpu")) is EngineKind.TRANSFORMERS
    assert choose_engine(Settings(model="Salesforce/codegen2-1B", device="cpu")) is EngineKind.TRANSFORMERS


# -- the thread count ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("setting, cores, threads", [
    (0, CpuCores(logical=8, physical=4, omp_num_threads=2), 2),  # OMP_NUM_THREADS is an explicit choice
    (3, CpuCores(logical=8, physical=4, omp_num_threads=2), 3),  # the setting wins over everything
    (6, CpuCores(logical=2, physical=2), 6),  # the user may oversubscribe on purpose
    (0, CpuCores(logical=2, physical=2), None),  # ours to choose, from the load
])
def test_a_thread_count_the_user_set_is_kept(setting, cores, threads):
    assert fixed_threads(setting, cores) == threads


class ScriptedLoad:
    """Other processes' busy CPUs per interval, as OtherLoad.since_last reports them."""

    def __init__(self, *busy: float | None) -> None:
        self.busy = list(busy)

    def since_last(self) -> float | None:
        return self.busy.pop(0)


@pytest.mark.parametrize("cores, others, threads", [
    (CpuCores(logical=2, physical=2), 0.05, 2),  # a quiet 2-core machine: both cores (p50 183 vs 244 ms)
    (CpuCores(logical=2, physical=2), 1.0, 1),  # one busy program beside us: one thread (264 vs 511 ms)
    (CpuCores(logical=2, physical=2), 0.4, 1),  # a core busy 40% of the time is not free
    (CpuCores(logical=2, physical=2), 2.0, 1),  # never zero
    (CpuCores(logical=1, physical=1), 0.0, 1),
    (CpuCores(logical=16, physical=8), 0.0, 7),  # a larger machine leaves one core to the editor
    (CpuCores(logical=16, physical=8), 8.0, 4),  # 8 of 16 logical CPUs busy: half of the physical cores
    (CpuCores(logical=16, physical=8), 0.1, 7),  # hyperthread siblings never count twice
])
def test_threads_follow_the_cores_other_processes_leave_free(cores, others, threads):
    assert FreeCoreThreads(cores, ScriptedLoad(others)).choose() == threads


def test_without_a_reading_the_count_leaves_one_core_free_and_keeps_the_last_choice():
    cores = CpuCores(logical=4, physical=4)
    assert FreeCoreThreads(cores, None).choose() == 3  # not Linux: the load cannot be read
    chooser = FreeCoreThreads(cores, ScriptedLoad(None, 3.0, None))
    assert chooser.choose() == 3  # no reading yet
    assert chooser.choose() == 1  # three CPUs busy
    assert chooser.choose() == 1  # too soon to read again: the last choice stays


def fake_stat(path, ticks: dict[int, tuple[int, int]]):
    """/proc/stat with (busy, idle) ticks per CPU, plus the aggregate line and others it must not read."""
    lines = [f"cpu  {sum(b for b, _ in ticks.values())} 0 0 {sum(i for _, i in ticks.values())} 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy} 0 0 {idle} 0 0 0 0 0 0" for n, (busy, idle) in ticks.items()]
    path.write_text("\n".join(lines + ["intr 12345 0", "ctxt 999"]) + "\n")


def test_other_load_is_the_busy_time_of_our_cpus_less_our_own(tmp_path):
    stat, own = tmp_path / "stat", [0.0]
    fake_stat(stat, {0: (1000, 1000), 1: (1000, 1000), 2: (0, 0)})
    load = OtherLoad((0, 1), stat, own_cpu_seconds=lambda: own[0])
    tick = load.tick
    # One second per CPU later (100 ticks at 100 Hz): CPU 0 fully busy, CPU 1 half; CPU 2 (not ours) ignored.
    per_second = round(1 / tick)
    fake_stat(stat, {0: (1000 + per_second, 1000), 1: (1000 + per_second // 2, 1000 + per_second // 2), 2: (9999, 0)})
    own[0] = 0.5  # half a CPU of that was this process
    assert load.since_last() == pytest.approx(1.0, abs=0.05)
    assert load.since_last() is None  # no time passed: no new reading
    assert OtherLoad((0,), tmp_path / "absent").since_last() is None


def fake_topology(root, cores_of_cpus: dict[int, tuple[int, int]]):
    for cpu, (package, core) in cores_of_cpus.items():
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_physical_cores_count_siblings_once_and_only_the_cpus_we_may_use(tmp_path):
    # Two packages of two cores with two hyperthreads each: CPUs 0-7.
    topology = fake_topology(tmp_path, {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1),
                                        4: (0, 0), 5: (0, 1), 6: (1, 0), 7: (1, 1)})
    assert physical_cores(list(range(8)), topology) == 4
    assert physical_cores([0, 4], topology) == 1  # an affinity set of one core's two siblings
    assert physical_cores([0, 2], topology) == 2  # core 0 of each package: two cores
    assert physical_cores([0, 9], topology) == 2  # no topology for CPU 9: every CPU counts


def test_the_process_cores_read_omp_num_threads(tmp_path):
    cores = CpuCores.of_this_process(tmp_path, environ={"OMP_NUM_THREADS": "3"})
    assert cores.omp_num_threads == 3 and cores.logical >= 1 and cores.physical >= 1
    assert CpuCores.of_this_process(tmp_path, environ={"OMP_NUM_THREADS": "lots"}).omp_num_threads is None


def test_the_threads_setting_reaches_the_engine_config():
    assert parse_settings({"threads": 2})[0].threads == 2
    assert "threads" in parse_settings({"threads": -1})[1][0]
    config = engine_config(Settings(model="/models/some-llama", device="cpu", threads=3))
    assert config.threads == 3


# -- set at load, shown in codegen/stats ---------------------------------------------------------------------------
def test_the_engine_follows_the_free_cores_per_generation_and_says_so(tiny_model_dir, restore_torch_threads):
    busy = ScriptedLoad(0.0, 1.9, 0.0)  # quiet, then another program takes a core, then quiet again
    engine = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu"),
                               cpu_cores=lambda: CpuCores(logical=2, physical=2, cpus=(0, 1)),
                               other_load=lambda cpus: busy)
    engine.load(NOOP)
    assert torch.get_num_threads() == 1 and engine.runtime["threads"] == 1  # before any reading: one core left
    assert engine.runtime["threads_from"] == "free cores" and engine.runtime["dtype"] == "float32"
    seen = []
    for _ in range(3):
        engine.generate(GenerationRequest("def f():\n", max_new_tokens=2), CancelToken())
        seen.append((torch.get_num_threads(), engine.runtime["threads"]))
    assert seen == [(2, 2), (1, 1), (2, 2)]


def test_a_thread_count_the_user_set_stays_through_generations(tiny_model_dir, restore_torch_threads):
    engine = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu", threads=2),
                               cpu_cores=lambda: CpuCores(logical=4, physical=4, cpus=(0, 1, 2, 3)),
                               other_load=lambda cpus: ScriptedLoad(3.9))
    engine.load(NOOP)
    engine.generate(GenerationRequest("def f():\n", max_new_tokens=2), CancelToken())
    assert torch.get_num_threads() == 2 and engine.runtime["threads_from"] == "setting"


async def test_codegen_stats_shows_the_runtime_of_the_loaded_engine(tiny_model_dir, restore_torch_threads):
    completer = Completer(Settings(model=str(tiny_model_dir), device="cpu", threads=2))
    try:
        assert await completer.load(NOOP)
        runtime = completer.status()["runtime"]
        assert completer.status()["engine"] == "fast"
        assert runtime["threads"] == 2 and runtime["device"] == "cpu" and runtime["dtype"] == "float32"
    finally:
        completer.close()


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    assert native_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert not native_bf16(cpuinfo)
    assert not native_bf16(tmp_path / "absent")  # not Linux: no claim
