"""Running on a CPU: `engine: auto` takes the fast CodeGen engine there, torch's thread count comes from the
physical cores free to the process (the `threads` setting overrides it), and what the engine runs on is in
`codegen/stats` under "runtime"."""

from __future__ import annotations

import pytest
import torch

from codegen_lsp.completion import Completer
from codegen_lsp.engines.config import EngineKind, FastConfig, choose_engine, engine_config
from codegen_lsp.engines.local.codegen.engine import FastCodeGenEngine
from codegen_lsp.engines.local.cpu import CpuCores, choose_threads, native_bf16, physical_cores
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
    (0, CpuCores(logical=2, physical=2), 1),  # a 2-core laptop or container: one core left to the editor
    (0, CpuCores(logical=1, physical=1), 1),  # never zero
    (0, CpuCores(logical=16, physical=8), 7),  # hyperthread siblings do not count
    (0, CpuCores(logical=8, physical=4, omp_num_threads=2), 2),  # OMP_NUM_THREADS is an explicit choice
    (3, CpuCores(logical=8, physical=4, omp_num_threads=2), 3),  # the setting wins over everything
    (6, CpuCores(logical=2, physical=2), 6),  # the user may oversubscribe on purpose
])
def test_threads_come_from_the_free_physical_cores(setting, cores, threads):
    assert choose_threads(setting, cores) == threads


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
def test_the_engine_sets_the_threads_it_chose_at_load_and_says_so(tiny_model_dir, restore_torch_threads):
    engine = FastCodeGenEngine(FastConfig(model=str(tiny_model_dir), device="cpu"),
                               cpu_cores=lambda: CpuCores(logical=8, physical=4))
    engine.load(NOOP)
    assert torch.get_num_threads() == 3
    assert engine.runtime["threads"] == 3 and engine.runtime["device"] == "cpu"
    assert engine.runtime["dtype"] == "float32"


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
