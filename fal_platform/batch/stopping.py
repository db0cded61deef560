"""Waiting on something unless the run is stopped first (a free slot, a job to finish)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> asyncio.Task[T]:
    """Run `work` until it finishes or `stop` is set, whichever comes first.

    The returned task is done: with `work`'s outcome, or cancelled when the stop came first
    (the caller then winds the item down instead of waiting on).
    """
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    return task
