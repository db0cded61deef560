"""The work of a run's slots, with the submit intents of the next items written ahead.

Before a submit leaves, its item's intent (UNKNOWN, one more attempt) must be on disk
(`submit.py`). Written when a slot frees, the intent waited for the writer's next group commit,
~20 ms at a round's end with 64 items in flight, while the slot sat idle (benchmarks/README.md
section 7). Here the next `size` items (the slots' count) that need a submit get their intent
written while every slot is busy, so a freed slot submits at once.

Crash safety is unchanged: an intent on disk whose submit never left is what a run killed
between the two leaves anyway, and the next run reconciles it against fal's request history
(found nowhere: submitted again, never paid twice). A run that stops takes its unused intents
back (`withdraw`: PENDING again, not an attempt), so it leaves no more UNKNOWN rows than before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fal_platform.batch import transitions as t
from fal_platform.batch.recorder import Recorder, utc_now
from fal_platform.batch.rows import RequestRow


@dataclass(frozen=True)
class Ready:
    """One item for a slot."""

    row: RequestRow
    """As planned."""
    needs_submit: bool
    intent: RequestRow | None
    """Its durable submit intent, written ahead; None when it needs no submit."""


@dataclass(frozen=True)
class _Ahead:
    row: RequestRow
    needs_submit: bool
    intent: asyncio.Task[RequestRow] | None


class IntentsAhead:
    """`next()` for every slot from the run's planned `work`.

    No lock between slots: a slot takes an item from the deque at once, and whichever slot finds
    nobody filling tops it up. (Behind an `asyncio.Lock`, a thousand slots freed by one round
    took turns one event-loop pass each, and a busy pass takes milliseconds: the round's last
    submits left seconds late at c=1,000.)
    """

    def __init__(
        self, work: AsyncIterator[tuple[RequestRow, bool]], rec: Recorder, *, size: int
    ) -> None:
        self._work = work
        self._rec = rec
        self._size = size
        self._ahead: deque[_Ahead] = deque()
        self._exhausted = False
        self._filling = False
        self._filled = asyncio.Event()
        """Set (and replaced) whenever a top-up ends: slots that found none ahead look again."""

    async def next(self) -> Ready | None:
        """The next item, its intent on disk; None when the work is done or the run stopped."""
        while not self._rec.stop.is_set():
            if self._ahead:
                ahead = self._ahead.popleft()
                if not self._filling:
                    await self._fill()
                intent = None if ahead.intent is None else await ahead.intent
                return Ready(ahead.row, ahead.needs_submit, intent)
            if self._exhausted:
                return None
            if self._filling:
                await self._filled.wait()
            else:
                await self._fill()
        return None

    async def withdraw(self) -> list[RequestRow]:
        """Take back the intents no slot used (a stop): their items are PENDING again, not an
        attempt. Returns those items' rows."""
        left = list(self._ahead)
        self._ahead.clear()
        for ahead in left:
            if ahead.intent is not None:
                self._rec.withdraw(await ahead.intent)
        return [ahead.row for ahead in left]

    async def _fill(self) -> None:
        self._filling = True
        try:
            while not self._exhausted and len(self._ahead) < self._size:
                work = await anext(self._work, None)
                if work is None:
                    self._exhausted = True
                    return
                self._ahead.append(self._prepare(*work))
        finally:
            self._filling = False
            filled, self._filled = self._filled, asyncio.Event()
            filled.set()

    def _prepare(self, row: RequestRow, needs_submit: bool) -> _Ahead:
        if not needs_submit:
            return _Ahead(row, needs_submit, None)
        written = self._rec.put_durable(t.intent(row, utc_now()))
        return _Ahead(row, needs_submit, asyncio.create_task(written, name="batch-intent-ahead"))
