"""The machine a run happened on, recorded next to its numbers (they mean little without it)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "fal-platform",
    "dagster",
    "dagster-dlt",
    "dagster-duckdb",
    "dlt",
    "duckdb",
    "pyarrow",
    "httpx",
    "httpcore",
    "aiohttp",
    "httpx-aiohttp",
    "fal-client",
    "uvicorn",
    "starlette",
)
SHARED_LOAD = 0.5
"""A 1-minute load average above this before we start means someone else is using the CPUs."""


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu_model: str
    memory_gib: float
    python: str
    platform: str
    packages: dict[str, str] = field(default_factory=dict)
    load_average_at_start: float = 0.0

    @property
    def shared(self) -> bool:
        return self.load_average_at_start > SHARED_LOAD

    def footer(self) -> str:
        """The closing line of a benchmark's markdown: the machine and how busy it was."""
        return f"Machine: {self.describe()}; load average at start {self.load_average_at_start}."

    def describe(self) -> str:
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return (
            f"{self.nproc} CPUs ({self.cpu_model}), {self.memory_gib:.1f} GiB RAM, "
            f"Python {self.python}, {self.platform}; {packages}"
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> Machine:
    return Machine(
        nproc=len(os.sched_getaffinity(0)),
        cpu_model=_cpu_model(),
        memory_gib=round(_memory_gib(), 1),
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        packages={name: _version(name) for name in PACKAGES},
        load_average_at_start=round(os.getloadavg()[0], 2),
    )
