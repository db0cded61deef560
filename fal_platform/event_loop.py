"""Run a coroutine on uvloop's event loop where uvloop is installed (Linux, macOS), else asyncio's.

Every request the engine makes passes through the event loop several times (the socket's
readiness, aiohttp's protocol callbacks, the timers of polls and timeouts). uvloop runs those
in C: at 1,000 concurrent jobs one process spent 2.4 ms of CPU per item instead of 3.0 and
finished the same 2,000 items in 5.1 s instead of 6.1-6.5 s (benchmarks/README.md section 7,
"Sixth round"). uvloop is a dependency where it builds; elsewhere asyncio's loop does the same
work more slowly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows: asyncio's own loop
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the fastest event loop available."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
