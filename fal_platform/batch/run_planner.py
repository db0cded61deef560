"""Planning a run against the store a chunk of items at a time, without a dict of every row.

The prompt set is streamed (`prompts.py`), so planning is too: the set's items are taken
`PLAN_CHUNK` at a time, the store returns the stored rows of just those items (a join built on
the chunk's keys: `BatchStore.load_requests_of`), and the pure rule (`plan.plan_run`) sorts
the chunk. Nothing is written while planning, so a budget refusal leaves the table as it was.
What planning keeps is bounded by what an earlier run left in flight, never by the set's size:

- the ledger's counts per state and the cost tally of what will be submitted;
- the rows to re-attach and the UNKNOWN rows to reconcile (with their items), which the run
  acts on before anything else; dispatch skips their keys (`held`);
- how many stored rows the plan matched: only when the set holds more, some belong to items
  no longer in the file, and only then are they looked for (`removed_rows`: one more pass
  collects an 8-byte digest per item key, then the set's stored keys are paged through).

After the budget check, the run writes rows whose item moved (`rewrite_moved`, a second pass, only
when some did) and then submits from a third pass (`engine.py`), which writes never-seen items
PENDING a chunk at a time just before submitting them: the table shows the items in flight and
a window ahead, and the report knows the total.
"""

from __future__ import annotations

import hashlib
import itertools
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fal_platform.batch.cost import CostEstimate, CostTally
from fal_platform.batch.ledger import Ledger
from fal_platform.batch.plan import Plan, plan_run, state_may_be_running
from fal_platform.batch.prompts import PromptItem
from fal_platform.batch.rows import RequestRow
from fal_platform.batch.store import StoredKey

PLAN_CHUNK = 5000
"""Items per store look-up while planning and per PENDING write while submitting."""
KEY_PAGE = 5000


class PlanStore(Protocol):
    """What planning reads from the store (`BatchStore` fits)."""

    def load_requests_of(self, prompt_set: str, item_keys: list[str]) -> list[RequestRow]: ...

    def request_keys_after(self, prompt_set: str, after: str, limit: int) -> list[StoredKey]: ...

    def upsert_requests(self, rows: Sequence[RequestRow]) -> int: ...


def chunked(items: Iterable[PromptItem], size: int | None = None) -> Iterator[list[PromptItem]]:
    """`size` (default `PLAN_CHUNK`) items at a time, in order."""
    size = size or PLAN_CHUNK
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def key_digest(item_key: str) -> int:
    """8 bytes of an item key (a sha256 hex, or any text): equal keys, equal digests."""
    return int.from_bytes(hashlib.blake2b(item_key.encode(), digest_size=8).digest(), "little")


@dataclass
class RunPlan:
    """What planning keeps for the run (see the module docstring)."""

    reattach: list[RequestRow] = field(default_factory=list)
    unknown: list[RequestRow] = field(default_factory=list)
    unknown_items: list[PromptItem] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    """Keys of the rows above: the run starts with them, dispatch never submits them again."""
    stored_rows: int = 0
    """Rows of the set in the table when planning started."""
    matched: int = 0
    """Of those, rows of items in the file: fewer than `stored_rows` means some are gone."""
    moved: int = 0
    """Rows whose item moved (a new line or index in an edited file), rewritten before submits."""

    @property
    def some_gone(self) -> bool:
        return self.stored_rows > self.matched


class RunPlanner:
    """Pass one: count, tally and sort every item; keep only the bounded rest (`RunPlan`)."""

    def __init__(
        self,
        prompt_set: str,
        store: PlanStore,
        *,
        ledger: Ledger,
        tally: CostTally,
        remember: Callable[[str | None], None],
        force: bool,
        max_attempts: int,
    ) -> None:
        self._set = prompt_set
        self._store = store
        self._ledger = ledger
        self._tally = tally
        self._remember = remember
        self._force = force
        self._max_attempts = max_attempts

    def estimate(self) -> CostEstimate:
        """What the planned run will submit, estimated (for the budget check)."""
        return self._tally.estimate()

    def chunk_plan(self, chunk: list[PromptItem], *, has_rows: bool) -> Plan:
        """The pure plan of one chunk, from its items' stored rows (none for a fresh set)."""
        keys = [item.item_key for item in chunk]
        rows = self._store.load_requests_of(self._set, keys) if has_rows else []
        return plan_run(chunk, rows, force=self._force, max_attempts=self._max_attempts)

    def plan(self, items: Iterable[PromptItem], stored_rows: int) -> RunPlan:
        run = RunPlan(stored_rows=stored_rows)
        for chunk in chunked(items):
            self._take(run, chunk, self.chunk_plan(chunk, has_rows=stored_rows > 0))
        return run

    def _take(self, run: RunPlan, chunk: list[PromptItem], plan: Plan) -> None:
        ledger, report = self._ledger, self._ledger.report
        waiting = {item.item_key for item, _ in plan.to_submit}
        for key, state in plan.stored_states.items():
            ledger.count(state, waiting=key in waiting)
        run.matched += len(plan.stored_states) - len(plan.new_items)
        run.moved += len(plan.moved)
        for item, _ in plan.to_submit:
            self._tally.add(item)
        for row in plan.reused:
            report.reused += 1
            ledger.completed(row, this_run=False)
        for row, failure in plan.settled_failures:
            ledger.failed(row, failure)
        run.reattach.extend(plan.reattach)
        unknown = {row.item_key for row in plan.unknown}
        run.unknown.extend(plan.unknown)
        for item in chunk:
            if item.item_key in unknown:
                run.unknown_items.append(item)
                self._tally.add(item)  # reconciliation may submit it again
        for row in [*plan.reattach, *plan.unknown]:
            ledger.take(row.item_key, row.state, waiting=False)
            run.held.add(row.item_key)

    def rewrite_moved(self, items: Iterable[PromptItem]) -> None:
        """Pass two, only when some rows moved: each chunk's moved rows written with their
        item's new line and index (a chunk at a time: an edit may move every row)."""
        for chunk in chunked(items):
            moved = self.chunk_plan(chunk, has_rows=True).moved
            if moved:
                self._store.upsert_requests(moved)

    def removed_rows(self, items: Iterable[PromptItem]) -> tuple[list[str], int]:
        """Rows of items no longer in the file, by paging through the set's stored keys: the
        keys to delete, and how many are left because fal may still run them. Their request
        ids are remembered (their rows may go: reconciliation must still never hand them out)."""
        file_keys = array("Q", sorted(key_digest(item.item_key) for item in items))
        deletable: list[str] = []
        left_running = 0
        after = ""
        while page := self._store.request_keys_after(self._set, after, KEY_PAGE):
            after = page[-1].item_key
            for stored in page:
                if _contains(file_keys, key_digest(stored.item_key)):
                    continue
                self._remember(stored.request_id)
                if state_may_be_running(stored.state):
                    left_running += 1
                else:
                    deletable.append(stored.item_key)
        return deletable, left_running


def _contains(sorted_digests: array[int], digest: int) -> bool:
    at = bisect_left(sorted_digests, digest)
    return at < len(sorted_digests) and sorted_digests[at] == digest
