"""A local, deterministic, fal-compatible HTTP server for tests, demos and benchmarks.

Start it with `python -m fal_platform.emulator` or, from Python/pytest,
`fal_platform.devstack.emulator_process.EmulatorProcess`. See DESIGN.md section 6.
"""

from fal_platform.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig"]
