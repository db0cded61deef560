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
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fal_platform.batch import transitions as t
from fal_platform.batch.recorder import Recorder, utc_now
from fal_platform.batch.rows import RequestRow

FILL_PER_PASS = 32
"""Intents the filler writes ahead per event-loop pass (a thousand at once held the loop)."""


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

    One filler task reads `work` and writes the intents, a few dozen items per event-loop pass;
    a slot takes the next item at once and only starts the filler. (Behind an `asyncio.Lock`, a
    thousand slots freed by one round took turns one loop pass each, seconds at c=1,000; with
    each slot topping up before its own submit, a thousand slots starting together held the
    first submit's answer ~300 ms.)
    """

    def __init__(
        self, work: AsyncIterator[tuple[RequestRow, bool]], rec: Recorder, *, size: int
    ) -> None:
        self._work = work
        self._rec = rec
        self._size = size
        self._ahead: deque[_Ahead] = deque()
        self._exhausted = False
        self._filler: asyncio.Task[None] | None = None
        self._added = asyncio.Event()
        """Set (and replaced) when the filler adds an item or stops: waiting slots look again."""

    async def next(self) -> Ready | None:
        """The next item, its intent on disk; None when the work is done or the run stopped."""
        while not self._rec.stop.is_set():
            if self._ahead:
                ahead = self._ahead.popleft()
                self._top_up()
                intent = None if ahead.intent is None else await ahead.intent
                return Ready(ahead.row, ahead.needs_submit, intent)
            self._top_up()
            if self._exhausted:
                return None
            await self._until_added()
        return None

    async def withdraw(self) -> list[RequestRow]:
        """Stop the filler and take back the intents no slot used (a stop): their items are
        PENDING again, not an attempt. Returns those items' rows."""
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
        left = list(self._ahead)
        self._ahead.clear()
        for ahead in left:
            if ahead.intent is not None:
                self._rec.withdraw(await ahead.intent)
        return [ahead.row for ahead in left]

    def _top_up(self) -> None:
        """Start the filler unless it runs; a filler that failed fails the slot (and the run)."""
        if self._filler is not None and self._filler.done():
            self._filler.result()
        idle = self._filler is None or self._filler.done()
        if idle and not self._exhausted and len(self._ahead) < self._size:
            self._filler = asyncio.create_task(self._fill(), name="batch-intents-ahead")

    async def _until_added(self) -> None:
        assert self._filler is not None
        added = asyncio.ensure_future(self._added.wait())
        try:
            await asyncio.wait({added, self._filler}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            added.cancel()
        if self._filler.done():
            self._filler.result()

    async def _fill(self) -> None:
        try:
            while not self._exhausted and len(self._ahead) < self._size:
                work = await anext(self._work, None)
                if work is None:
                    self._exhausted = True
                    return
                self._ahead.append(self._prepare(*work))
                self._wake()
                if len(self._ahead) % FILL_PER_PASS == 0:
                    await asyncio.sleep(0)  # let the slots submit between the intents
        finally:
            self._wake()

    def _wake(self) -> None:
        added, self._added = self._added, asyncio.Event()
        added.set()

    def _prepare(self, row: RequestRow, needs_submit: bool) -> _Ahead:
        if not needs_submit:
            return _Ahead(row, needs_submit, None)
        written = self._rec.put_durable(t.intent(row, utc_now()))
        return _Ahead(row, needs_submit, asyncio.create_task(written, name="batch-intent-ahead"))
