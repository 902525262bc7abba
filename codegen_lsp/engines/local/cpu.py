"""What the CPU offers an in-process engine: the cores free to this process (torch's thread count follows
them) and whether it computes bfloat16 natively.

torch's intra-op pool is process-wide and the engine is the only torch user, so the engine sets it, on the
model thread. torch's own default is one thread per logical CPU of the machine, which is wrong twice on a
laptop: hyperthread siblings share one core's vector units (a decode step gains nothing from the second), and
a torch thread that loses its core to another program (the editor, a build) stalls every other thread at the
next barrier.

Measured side by side on the shared 2-core machine (benchmarks/typing_replay.py --variants, pycodegen-tiny,
closed loop; docs/cpu.md): with the machine otherwise idle, two threads answered a keystroke at p50 183 ms
against one thread's 244 ms; with one CPU-bound process beside them, two threads took 511 ms against one
thread's 264 ms (and a CodeGen-350M decode step on two busy cores was 1.9-10x slower than on one). Neither
fixed count is right on both machines, so `threads: 0` follows the load: before each generation the engine
counts the physical cores that other processes left idle since the one before (/proc/stat, less this
process's own CPU time) and runs on those, all of them on a machine of up to three cores, one fewer on a
larger one (where one core less costs a bandwidth-bound decode step little and leaves the editor room).
Where the load cannot be read it keeps one core free. OMP_NUM_THREADS, when set, is the user's (or the CI's)
explicit choice and wins over `auto`; the `threads` setting wins over both.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CPU_TOPOLOGY = Path("/sys/devices/system/cpu")
CPU_INFO = Path("/proc/cpuinfo")
CPU_STAT = Path("/proc/stat")
# cpuinfo flags of bfloat16 arithmetic in hardware (AVX-512 BF16 dot products, AMX tiles). Without them torch
# converts bfloat16 to float32 around every kernel, and bfloat16 weights are slower than float32 ones.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Cores left to the editor and the server's event loop when the load cannot be measured, and on a machine of
# more than SMALL_MACHINE_CORES physical cores.
CORES_LEFT_FREE = 1
SMALL_MACHINE_CORES = 3
# A core counts as free when at least this share of it was left idle by other processes over the last interval
# (they used less than a fifth of it): a thread on a core that is busy a third of the time already waits at
# barriers.
FREE_CORE_SHARE = 0.8
# The shortest interval the load is measured over (/proc/stat counts in 10 ms ticks); a generation sooner than
# this after the last one keeps its thread count.
MIN_SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class CpuCores:
    """What the machine offers this process: logical CPUs it may run on, and the physical cores they belong to."""

    logical: int
    physical: int
    omp_num_threads: int | None = None  # the OMP_NUM_THREADS environment variable, when set to a number
    cpus: tuple[int, ...] = ()  # the logical CPUs' numbers (their load is read from /proc/stat)

    @classmethod
    def of_this_process(cls, topology: Path = CPU_TOPOLOGY, environ=os.environ) -> "CpuCores":
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        return cls(len(cpus), physical_cores(cpus, topology), _positive_int(environ.get("OMP_NUM_THREADS")), tuple(cpus))


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


def fixed_threads(setting: int, cores: CpuCores) -> int | None:
    """The thread count the user fixed: the setting when set (> 0), else OMP_NUM_THREADS when set; None when
    it is ours to choose (FreeCoreThreads)."""
    if setting > 0:
        return setting
    return cores.omp_num_threads


class OtherLoad:
    """How many CPUs' worth of work other processes did on our CPUs since the last call (Linux /proc/stat, less
    this process's own CPU time). `stat` and `own_cpu_seconds` are seams for tests."""

    def __init__(self, cpus: tuple[int, ...], stat: Path = CPU_STAT,
                 own_cpu_seconds: Callable[[], float] = time.process_time) -> None:
        self.lines = {f"cpu{cpu}" for cpu in cpus}
        self.stat = stat
        self.own_cpu_seconds = own_cpu_seconds
        self.tick = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
        self._last = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        """(busy CPU-seconds, all CPU-seconds, our own CPU-seconds) so far; None where it cannot be read."""
        try:
            text = self.stat.read_text()
        except OSError:
            return None
        busy = total = 0
        for line in text.splitlines():
            fields = line.split()
            if fields and fields[0] in self.lines and len(fields) >= 8:
                user, nice, system, idle, iowait, irq, softirq = map(int, fields[1:8])
                steal = int(fields[8]) if len(fields) > 8 else 0  # the hypervisor's: not ours to use either
                busy += user + nice + system + irq + softirq + steal
                total += user + nice + system + idle + iowait + irq + softirq + steal
        if total == 0:
            return None
        return busy * self.tick, total * self.tick, self.own_cpu_seconds()

    def since_last(self) -> float | None:
        """Other processes' busy CPUs (0 to the CPU count) since the last call; None when the load cannot be
        read or less than MIN_SAMPLE_SECONDS passed (the last sample is kept then)."""
        if self._last is None:
            return None
        now = self._read()
        if now is None:
            return None
        busy, total, own = (a - b for a, b in zip(now, self._last))
        seconds = total / len(self.lines)
        if seconds < MIN_SAMPLE_SECONDS:
            return None
        self._last = now
        return min(len(self.lines), max(0.0, (busy - own) / seconds))


class FreeCoreThreads:
    """`threads: 0`: the physical cores other processes left free, chosen again before each generation."""

    def __init__(self, cores: CpuCores, load: OtherLoad | None) -> None:
        self.cores = cores
        self.load = load
        self.ceiling = cores.physical if cores.physical <= SMALL_MACHINE_CORES else cores.physical - CORES_LEFT_FREE
        self.threads = max(1, cores.physical - CORES_LEFT_FREE)  # until the load is first measured

    def choose(self) -> int:
        others = self.load.since_last() if self.load is not None else None
        if others is not None:
            free = self.cores.physical * (1 - others / max(1, self.cores.logical))
            self.threads = max(1, min(self.ceiling, math.floor(free + 1 - FREE_CORE_SHARE)))
        return self.threads


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
