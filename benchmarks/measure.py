"""CPU, memory and wall-clock measurement without psutil (it is not a project dependency).

Our own process: `resource.getrusage` (CPU of every thread) and `/proc/self/status` (VmHWM,
the kernel's peak resident set). Another process (the emulator): `/proc/<pid>/stat`, sampled by
a thread so we can tell whether it pinned a core for a while, not only its average.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
SATURATION_THRESHOLD = 0.9
"""A process that used at least this share of one core over a window "saturated" it."""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of any process, from /proc/<pid>/stat (fields 14 and 15)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces or parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kib(field: str, pid: int | str = "self") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def own_peak_rss_mb() -> float:
    """Peak resident set of this process so far, in MiB.

    VmHWM, not `ru_maxrss`: Linux carries the parent's RSS at fork time into the child's
    `ru_maxrss` across exec, so a worker spawned by a big driver would report the driver's size.
    """
    hwm = _status_kib("VmHWM")
    if hwm is None:
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return hwm / 1024


def current_rss_mb(pid: int | str = "self") -> float:
    return (_status_kib("VmRSS", pid) or 0) / 1024


def load_average() -> float:
    """1-minute load average: how busy the (possibly shared) machine was."""
    return round(os.getloadavg()[0], 2)


@dataclass
class Section:
    """Wall and CPU time of this process over one `with` block."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    _wall0: float = 0.0
    _cpu0: float = 0.0

    def __enter__(self) -> Section:
        self._wall0 = time.perf_counter()
        self._cpu0 = own_cpu_seconds()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall_seconds = time.perf_counter() - self._wall0
        self.cpu_seconds = own_cpu_seconds() - self._cpu0


@dataclass(frozen=True)
class CpuUsage:
    """What another process used while we watched it."""

    cpu_seconds: float
    wall_seconds: float
    mean_core_share: float
    """CPU seconds per wall second (1.0 = one core busy the whole time)."""
    peak_core_share: float
    """Busiest window (`window` seconds) of the run, same unit."""

    @property
    def saturated(self) -> bool:
        return self.peak_core_share >= SATURATION_THRESHOLD


class CpuMonitor:
    """Samples another process's CPU time in a thread: `with CpuMonitor(pid) as m: ...; m.usage`."""

    def __init__(self, pid: int, *, interval: float = 0.25, window: float = 2.0) -> None:
        self._pid = pid
        self._interval = interval
        self._window_samples = max(1, round(window / interval))
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-monitor", daemon=True)
        self.usage = CpuUsage(0.0, 0.0, 0.0, 0.0)

    def _sample(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the process is gone: keep what we have
            self._samples.append((time.perf_counter(), process_cpu_seconds(self._pid)))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> CpuMonitor:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.usage = self._summarize()

    def _summarize(self) -> CpuUsage:
        samples = self._samples
        if len(samples) < 2:
            return CpuUsage(0.0, 0.0, 0.0, 0.0)
        wall = samples[-1][0] - samples[0][0]
        cpu = samples[-1][1] - samples[0][1]
        step = min(self._window_samples, len(samples) - 1)
        peak = max(
            (samples[i + step][1] - samples[i][1]) / (samples[i + step][0] - samples[i][0])
            for i in range(len(samples) - step)
        )
        return CpuUsage(
            cpu_seconds=round(cpu, 3),
            wall_seconds=round(wall, 3),
            mean_core_share=round(cpu / wall, 3) if wall > 0 else 0.0,
            peak_core_share=round(peak, 3),
        )
