"""The job store: every accepted request and its lifecycle, computed from the clock.

A job's queue wait and inference time are fixed when it is submitted, so its state at any
moment is arithmetic (IN_QUEUE before `started_at`, IN_PROGRESS before `ended_at`, then
COMPLETED); no background task runs per job. Per app (`[namespace/]owner/app`), "how many
earlier jobs are still queued" is an O(log n) query, cheap even with 100,000 jobs.

Only the input and small scalars are kept per job; outputs are rebuilt on demand.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any, Final

from fal_platform.emulator.catalog import Model
from fal_platform.emulator.timeutil import iso_millis

IN_QUEUE: Final = "IN_QUEUE"
IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"


@dataclass(frozen=True, slots=True)
class JobError:
    """Why a job failed; decides the result's status code, body and headers."""

    status_code: int
    error_type: str
    message: str
    detail: tuple[dict[str, Any], ...] | None = None  # 422 validation items
    timeout_type: str | None = None  # "user" when the caller's start timeout expired

    def body(self) -> dict[str, Any]:
        if self.detail is not None:
            return {"detail": list(self.detail)}
        return {"detail": self.message, "error_type": self.error_type}

    @property
    def history_status(self) -> str:
        return "user_error" if self.status_code < 500 else "error"


CANCELLED = JobError(499, "client_cancelled", "Request was cancelled")


@dataclass(slots=True, eq=False)
class Job:
    request_id: str
    model: Model
    payload: dict[str, Any]
    input_hash: str
    submitted_at: float
    started_at: float
    ended_at: float
    planned_inference: float
    error: JobError | None
    queue_seq: int  # index in its app queue; -1 when it never queues (sync run, timed out)

    def state(self, now: float) -> str:
        if now < self.started_at:
            return IN_QUEUE
        if now < self.ended_at:
            return IN_PROGRESS
        return COMPLETED

    @property
    def inference_time(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    @property
    def status_code(self) -> int:
        return self.error.status_code if self.error else 200

    def log_plan(self) -> list[tuple[float, str, str]]:
        """(time, level, message) of every log line this job will ever print."""
        start, planned = self.started_at, self.planned_inference
        lines = [
            (start, "INFO", f"Starting request {self.request_id} on {self.model.endpoint_id}"),
            (start + 0.3 * planned, "INFO", "Loading pipeline weights"),
            (start + 0.6 * planned, "STDERR", "Generating:  60%|######    | 6/10"),
        ]
        lines = [line for line in lines if line[0] < self.ended_at or line[0] == start]
        if self.error is CANCELLED:
            lines.append((self.ended_at, "WARN", "Request was cancelled"))
        elif self.error is not None:
            lines.append((self.ended_at, "ERROR", f"{self.error.error_type}: {self.error.message}"))
        else:
            lines.append((self.ended_at, "INFO", f"Completed in {self.inference_time:.2f}s"))
        if self.started_at == self.ended_at and self.error is not None:
            lines = lines[-1:]  # never ran: only the final line
        return lines

    def logs(self, now: float) -> list[dict[str, Any]]:
        return [
            {"message": message, "level": level, "source": "user", "timestamp": iso_millis(at)}
            for at, level, message in self.log_plan()
            if at <= now
        ]


class _Fenwick:
    """Prefix sums over a growing list of 0/1 flags, O(log n) per update and query."""

    def __init__(self) -> None:
        self._tree = [0]  # 1-indexed; _tree[i] sums the flags (i - lowbit(i), i]

    def append(self, value: int) -> None:
        index = len(self._tree)
        low = index - (index & -index)
        self._tree.append(value + self.prefix(index - 1) - self.prefix(low))

    def add(self, position: int, delta: int) -> None:
        index = position + 1
        while index < len(self._tree):
            self._tree[index] += delta
            index += index & -index

    def prefix(self, count: int) -> int:
        """Sum of the first `count` flags."""
        total, index = 0, count
        while index > 0:
            total += self._tree[index]
            index -= index & -index
        return total


class AppQueue:
    """The jobs of one app that have not started yet, in submit order.

    Each job has its own planned start, so jobs may leave out of order. A min-heap of planned
    starts tells which jobs have left by `now`; a Fenwick tree over submit order counts the
    ones still waiting before a given job.
    """

    def __init__(self) -> None:
        self._waiting = _Fenwick()
        self._starts: list[tuple[float, int]] = []  # heap of (planned start, seq)
        self._left = bytearray()  # 1 once the job started or was cancelled

    def enqueue(self, start: float) -> int:
        seq = len(self._left)
        self._left.append(0)
        self._waiting.append(1)
        heapq.heappush(self._starts, (start, seq))
        return seq

    def _advance(self, now: float) -> None:
        starts = self._starts
        while starts and starts[0][0] <= now:
            self.remove(heapq.heappop(starts)[1])

    def remove(self, seq: int) -> None:
        if not self._left[seq]:
            self._left[seq] = 1
            self._waiting.add(seq, -1)

    def ahead_of(self, seq: int, now: float) -> int:
        self._advance(now)
        return 0 if self._left[seq] else self._waiting.prefix(seq)

    def waiting(self, now: float) -> int:
        self._advance(now)
        return self._waiting.prefix(len(self._left))

    def next_start(self, now: float) -> float:
        """When the next queued job of this app starts (a cancelled one may wake us early)."""
        self._advance(now)
        return self._starts[0][0] if self._starts else math.inf


class JobStore:
    def __init__(self, seed: int) -> None:
        self._ids = random.Random(f"{seed}:request-ids")
        self.jobs: dict[str, Job] = {}
        self._queues: dict[str, AppQueue] = {}
        self._by_endpoint: dict[str, list[Job]] = {}

    def __len__(self) -> int:
        return len(self.jobs)

    def get(self, request_id: str) -> Job | None:
        return self.jobs.get(request_id)

    def for_endpoint(self, endpoint_id: str) -> list[Job]:
        """Jobs of one endpoint in submit order (so `submitted_at` is sorted)."""
        return self._by_endpoint.get(endpoint_id, [])

    def _queue(self, app_path: str) -> AppQueue:
        queue = self._queues.get(app_path)
        if queue is None:
            queue = self._queues[app_path] = AppQueue()
        return queue

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def add(
        self,
        model: Model,
        payload: dict[str, Any],
        input_hash: str,
        *,
        now: float,
        wait: float,
        inference: float,
        error: JobError | None,
        queued: bool = True,
        start_timeout: float | None = None,
    ) -> Job:
        """Accept a job. `queued=False` is the sync run path: it starts at once.

        With `start_timeout` (X-Fal-Request-Timeout), a job that would wait longer fails with
        504 request_timeout when the timeout expires and never takes a queue slot."""
        seq, start = -1, now
        if queued and start_timeout is not None and wait > start_timeout:
            start = now + start_timeout
            inference = 0.0
            error = JobError(504, "request_timeout", "Request timed out", timeout_type="user")
        elif queued:
            start = now + wait
            seq = self._queue(model.app_path).enqueue(start)
        job = Job(
            request_id=self._new_id(),
            model=model,
            payload=payload,
            input_hash=input_hash,
            submitted_at=now,
            started_at=start,
            ended_at=start + inference,
            planned_inference=inference,
            error=error,
            queue_seq=seq,
        )
        self.jobs[job.request_id] = job
        self._by_endpoint.setdefault(model.endpoint_id, []).append(job)
        return job

    def queue_position(self, job: Job, now: float) -> int:
        queue = self._queue(job.model.app_path)
        if job.queue_seq < 0:
            return queue.waiting(now)  # never queued: everyone waiting is ahead of it
        return queue.ahead_of(job.queue_seq, now)

    def queue_length(self, app_path: str, now: float) -> int:
        return self._queue(app_path).waiting(now)

    def cancel(self, job: Job, now: float) -> bool:
        """Cancel a job that has not completed; False if it already had."""
        state = job.state(now)
        if state == COMPLETED:
            return False
        if state == IN_QUEUE:
            job.started_at = now
            if job.queue_seq >= 0:
                self._queue(job.model.app_path).remove(job.queue_seq)
        job.ended_at = now
        job.error = CANCELLED
        return True

    def next_change_at(self, job: Job, now: float) -> float:
        """Earliest moment this job's status (state, position or logs) can change."""
        state = job.state(now)
        if state == COMPLETED:
            return math.inf
        candidates = [job.started_at if state == IN_QUEUE else job.ended_at]
        if state == IN_QUEUE and job.queue_seq >= 0:
            candidates.append(self._queue(job.model.app_path).next_start(now))
        candidates += [at for at, _, _ in job.log_plan() if at > now]
        return min(candidates)

    def state_counts(self, now: float) -> dict[str, int]:
        counts = {IN_QUEUE: 0, IN_PROGRESS: 0, COMPLETED: 0, "failed": 0, "cancelled": 0}
        for job in self.jobs.values():
            state = job.state(now)
            counts[state] += 1
            if state == COMPLETED and job.error is not None:
                counts["cancelled" if job.error is CANCELLED else "failed"] += 1
        return counts
