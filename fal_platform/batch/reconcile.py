"""Finding out whether a submit whose answer was lost was accepted after all.

A submit that timed out or lost its connection after sending may have queued (and will bill)
the job. Submitting again blindly could pay twice, so the row stays `UNKNOWN` until fal's
request history (`/v1/models/requests/by-endpoint?expand=payloads`) says what happened:

- history is read for the endpoint from the earliest submit intent (minus a clock-skew
  allowance) onwards, and each entry's `json_input` is compared, as canonical JSON, with the
  item's input;
- entries whose request id is already known are skipped: recorded in the store's rows of the
  set (asked per look-up, `recorded`), or held in memory while not on disk yet (accepted or
  claimed in this run and not yet written, or a failed request this run retries); so are
  entries that ended in an error or ended before the intent
  (a failed earlier attempt of the same item is not billed and is not this submit);
- matches are handed out in submit order, one per UNKNOWN item, so replicas that share an
  input each get their own request;
- an item with a match becomes `SUBMITTED` again (its URLs rebuilt from the id); an item
  without one, after a second read of history, was never accepted and is safe to submit again.

Limits, documented rather than hidden: requests sent with `X-Fal-Store-IO: 0` have no stored
input and cannot be matched; identical inputs submitted at the same moment by another prompt
set could be matched to this one (both would then share that request's output, nothing is paid
twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from fal_platform.batch.prompts import canonical_json
from fal_platform.batch.rows import RequestRow, RequestState, submitted_row
from fal_platform.client import FalClient, HistoryItem, RequestHandle

logger = logging.getLogger("fal_platform.batch")

_DEFAULT_LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class ReconcileOutcome:
    """The rows after reconciliation: found ones SUBMITTED, the others PENDING."""

    rows: list[RequestRow]
    found: int
    not_found: int


RecordedIds = Callable[[Sequence[str]], set[str]]
"""Which of these request ids the set's stored rows hold (`BatchStore.recorded_request_ids`)."""


class Reconciler:
    """Matches UNKNOWN rows to request history; one lookup at a time per endpoint, so two
    reconciliations can never hand the same request to two items.

    A request id is known while it is in memory or in the store: `remember` it before its row
    is written and call `written` once the row is on disk, so memory holds only the ids in
    between (an id moves from one to the other, never out of both), not one per item."""

    def __init__(
        self,
        client: FalClient,
        *,
        recorded: RecordedIds | None = None,
        clock_skew: float = 5.0,
        history_delay: float = 0.0,
    ) -> None:
        self._client = client
        self._known: set[str] = set()
        self._recorded = recorded
        self._clock_skew = timedelta(seconds=clock_skew)
        self._history_delay = history_delay
        self._locks: dict[str, asyncio.Lock] = {}

    def remember(self, request_id: str | None) -> None:
        """A request id this run knows about, so history never hands it out again."""
        if request_id:
            self._known.add(request_id)

    def written(self, request_id: str | None) -> None:
        """Its row is on disk: the store answers for it from now on (with `recorded`)."""
        if request_id and self._recorded is not None:
            self._known.discard(request_id)

    async def reconcile(self, rows: Sequence[RequestRow]) -> ReconcileOutcome:
        if self._history_delay > 0:
            # fal records a request in its history shortly after accepting it.
            await asyncio.sleep(self._history_delay)
        by_endpoint: dict[str, list[RequestRow]] = {}
        for row in rows:
            by_endpoint.setdefault(row.endpoint_id, []).append(row)
        result: list[RequestRow] = []
        found = 0
        for endpoint_id, group in by_endpoint.items():
            lock = self._locks.setdefault(endpoint_id, asyncio.Lock())
            async with lock:
                matched = await self._reconcile_endpoint(endpoint_id, group)
            for row in matched:
                found += row.state is RequestState.SUBMITTED
                result.append(row)
        return ReconcileOutcome(result, found, len(result) - found)

    async def _reconcile_endpoint(
        self, endpoint_id: str, rows: list[RequestRow]
    ) -> list[RequestRow]:
        intents = [row.submitted_at for row in rows if row.submitted_at is not None]
        now = datetime.now(UTC)
        earliest = min(intents) if len(intents) == len(rows) else now - _DEFAULT_LOOKBACK
        start = earliest - self._clock_skew
        ordered = sorted(rows, key=lambda r: (r.submitted_at or now, r.item_index))
        matches: dict[str, str] = {}
        # History is paged by offset over a list that changes while it is read (new requests,
        # requests finishing and moving): an entry can slip between two pages. A second read
        # for the items still unmatched makes a miss (and so a double submit) very unlikely.
        for _ in range(2):
            unmatched = [row for row in ordered if row.item_key not in matches]
            if not unmatched:
                break
            candidates = await self._candidates(endpoint_id, start)
            for row in unmatched:
                entries = candidates.get(canonical_json(row.input), [])
                intent = (row.submitted_at or earliest) - self._clock_skew
                match = next((e for e in entries if _sent_time(e) >= intent), None)
                if match is not None:
                    entries.remove(match)
                    self._known.add(match.request_id)
                    matches[row.item_key] = match.request_id
        queue_url = self._client.settings.queue_url
        out: list[RequestRow] = []
        for row in ordered:
            request_id = matches.get(row.item_key)
            if request_id is None:
                out.append(replace(row, state=RequestState.PENDING))
                continue
            handle = RequestHandle.from_ids(queue_url, endpoint_id, request_id)
            logger.info(
                "reconciled item %s (line %d) to request %s from fal's request history",
                row.item_key[:12],
                row.line,
                request_id,
            )
            out.append(submitted_row(row, handle))
        return out

    async def _candidates(self, endpoint_id: str, start: datetime) -> dict[str, list[HistoryItem]]:
        """Unclaimed history entries since `start`, by canonical input, oldest first."""
        seen: set[str] = set()
        candidates: dict[str, list[HistoryItem]] = {}
        async for entry in self._client.platform.iter_request_history(
            endpoint_id, start=start, expand_payloads=True, page_size=100
        ):
            if entry.request_id in seen or not self._usable(entry, start):
                continue  # an entry can show up on two pages
            seen.add(entry.request_id)
            candidates.setdefault(canonical_json(entry.json_input), []).append(entry)
        if self._recorded is not None and seen:
            recorded = await asyncio.to_thread(self._recorded, sorted(seen))
            for key, entries in candidates.items():
                candidates[key] = [e for e in entries if e.request_id not in recorded]
        for entries in candidates.values():
            entries.sort(key=_sent_time)
        return candidates

    def _usable(self, entry: HistoryItem, start: datetime) -> bool:
        if entry.request_id in self._known or entry.json_input is None:
            return False
        if entry.status_code is not None and entry.status_code >= 400:
            return False  # a failed request is not billed: resubmitting costs nothing extra
        return entry.ended_at is None or _aware(entry.ended_at) >= start


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _sent_time(entry: HistoryItem) -> datetime:
    value = entry.sent_at or entry.started_at or entry.ended_at
    return _aware(value) if value is not None else datetime.max.replace(tzinfo=UTC)
