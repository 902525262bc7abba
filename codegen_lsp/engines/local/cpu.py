"""What the CPU offers an in-process engine: the cores free to this process (torch's thread count is chosen
from them once, at load) and whether it computes bfloat16 natively.

torch's intra-op pool is process-wide and the engine is the only torch user, so the engine sets it when it
loads. torch's own default is one thread per logical CPU of the machine, which is wrong twice on a laptop:
hyperthread siblings share one core's vector units (a decode step gains nothing from the second), and the
editor and the server's event loop need a core too. A torch thread that loses its core to them stalls every
other thread at the next barrier: on the shared 2-core machine, two torch threads on two busy cores ran a
CodeGen-350M decode step 1.9-10x slower than one thread, and a small model's keystroke up to 17x (docs/cpu.md).

So `auto` (threads: 0) is one per physical core in the process's affinity set, minus one for the editor and
the event loop, and at least one. OMP_NUM_THREADS, when set, is the user's (or the CI's) explicit choice and
wins over `auto`; the `threads` setting wins over both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CPU_TOPOLOGY = Path("/sys/devices/system/cpu")
CPU_INFO = Path("/proc/cpuinfo")
# cpuinfo flags of bfloat16 arithmetic in hardware (AVX-512 BF16 dot products, AMX tiles). Without them torch
# converts bfloat16 to float32 around every kernel, and bfloat16 weights are slower than float32 ones.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Cores left to the editor and the server's event loop.
CORES_LEFT_FREE = 1


@dataclass(frozen=True)
class CpuCores:
    """What the machine offers this process: logical CPUs it may run on, and the physical cores they belong to."""

    logical: int
    physical: int
    omp_num_threads: int | None = None  # the OMP_NUM_THREADS environment variable, when set to a number

    @classmethod
    def of_this_process(cls, topology: Path = CPU_TOPOLOGY, environ=os.environ) -> "CpuCores":
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        return cls(len(cpus), physical_cores(cpus, topology), _positive_int(environ.get("OMP_NUM_THREADS")))


def physical_cores(cpus: list[int], topology: Path = CPU_TOPOLOGY) -> int:
    """Distinct (package, core) pairs among `cpus` (Linux sysfs); where that is not readable, every CPU counts."""
    cores = set()
    for cpu in cpus:
        base = topology / f"cpu{cpu}" / "topology"
        try:
            cores.add(((base / "physical_package_id").read_text().strip(), (base / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def choose_threads(setting: int, cores: CpuCores) -> int:
    """The intra-op thread count: the setting when set (> 0); else OMP_NUM_THREADS when set; else the physical
    cores free to us minus CORES_LEFT_FREE, at least one."""
    if setting > 0:
        return setting
    if cores.omp_num_threads is not None:
        return cores.omp_num_threads
    return max(1, cores.physical - CORES_LEFT_FREE)


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def native_bf16(cpuinfo: Path = CPU_INFO) -> bool:
    """Whether the CPU has bfloat16 arithmetic (Linux /proc/cpuinfo flags); False where that is not readable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool(BF16_FLAGS.intersection(flags))
