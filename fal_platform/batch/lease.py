"""One driver per prompt set at a time, across processes and machines: a lease with an expiry.

Two workers driving the same items would both submit them (paying twice), so a run holds the
prompt set's row in `generation.leases` while it works, renewing it every `RENEW_EVERY`
seconds. A worker that dies stops renewing and its lease expires after `LEASE_SECONDS`; a run
on the same host can tell at once that the holder's process is gone and takes over without
waiting. Taking, renewing and releasing are each one atomic conditional upsert
(`TableBackend.upsert_if`), so on Postgres two machines racing for an expired lease cannot both
win. A holder that is alive and renewing keeps the set: a second run waits for it, then
refuses (`PartitionBusyError`, nothing submitted).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psutil

from fal_platform.batch.table_spec import TableSpec
from fal_platform.store.backend import TableBackend

logger = logging.getLogger("fal_platform.batch")

LEASE_SECONDS = 30.0
"""How long a dead worker keeps a prompt set (another machine cannot see that it died)."""
RENEW_EVERY = 10.0
WAIT_SECONDS = 2 * LEASE_SECONDS + 5
"""How long a run waits for a busy prompt set before refusing."""
POLL_SECONDS = 1.0
TAKE_HOLD_SECONDS = 2.0
"""Bound on the one connection a take holds for its read and its conditional write."""


class PartitionBusyError(RuntimeError):
    """Another live worker is driving this prompt set; nothing was submitted."""


@dataclass
class LeaseRow:
    """One row of `generation.leases`: who drives a prompt set, until when."""

    prompt_set: str
    owner: str
    host: str
    pid: int
    expires_at: datetime
    acquired_at: datetime


LEASES = TableSpec("generation.leases", LeaseRow, key=("prompt_set",))


def holder_gone(
    lease: LeaseRow, now: datetime, host: str, pid_alive: Callable[[int], bool]
) -> bool:
    """The lease may be taken: expired, or held by a process of this host that no longer runs."""
    return lease.expires_at <= now or (lease.host == host and not pid_alive(lease.pid))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PartitionLease:
    def __init__(
        self,
        tables: TableBackend,
        prompt_set: str,
        *,
        seconds: float = LEASE_SECONDS,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self._tables = tables
        self.prompt_set = prompt_set
        self._seconds = seconds
        self._renew_every = renew_every
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()

    def _row(self, now: datetime) -> LeaseRow:
        expires = now + timedelta(seconds=self._seconds)
        return LeaseRow(self.prompt_set, self.owner, self.host, os.getpid(), expires, now)

    def try_take(self) -> LeaseRow | None:
        """None when taken (or already ours); else the lease that keeps us out."""
        with self._tables.holding(TAKE_HOLD_SECONDS):  # one connection for the read and the write
            return self._take()

    def _take(self) -> LeaseRow | None:
        now = _utc_now()
        current = self._tables.load(LEASES, {"prompt_set": self.prompt_set}, ())
        holder = current[0] if current else None
        takeable = holder is None or holder_gone(holder, now, self.host, psutil.pid_exists)
        # The holder we judged gone must still be the holder when we write: two takers race.
        condition = "existing.owner = $1 OR existing.owner = $2 OR existing.expires_at <= $3"
        stale = holder.owner if holder is not None and takeable else self.owner
        if self._tables.upsert_if(LEASES, self._row(now), condition, [self.owner, stale, now]):
            return None
        return holder or self._tables.load(LEASES, {"prompt_set": self.prompt_set}, ())[0]

    def acquire(self, wait: float = WAIT_SECONDS, should_stop: Callable[[], bool] = bool) -> None:
        deadline = _utc_now() + timedelta(seconds=wait)
        while True:
            holder = self.try_take()
            if holder is None:
                return
            if _utc_now() > deadline or should_stop():
                raise PartitionBusyError(
                    f"prompt set {self.prompt_set!r} is being run by process {holder.pid} on "
                    f"{holder.host} (its lease runs to {holder.expires_at:%H:%M:%S} UTC and is "
                    "being renewed); nothing was submitted: wait for that run or stop it"
                )
            self._tables.release()  # the holder's turn at a DuckDB file while we wait
            self._stop.wait(POLL_SECONDS)

    def renew(self) -> bool:
        """Extend our lease; False if another worker took it (we stopped renewing too long)."""
        now = _utc_now()
        return self._tables.upsert_if(LEASES, self._row(now), "existing.owner = $1", [self.owner])

    def release(self) -> None:
        self._tables.delete_keys(LEASES, {"owner": self.owner}, "prompt_set", [self.prompt_set])

    def _keep_renewing(self) -> None:
        while not self._stop.wait(self._renew_every):
            try:
                if not self.renew():
                    logger.error(
                        "lost the lease on prompt set %s to another worker", self.prompt_set
                    )
                    return
            except Exception as exc:  # the store retries; a miss here is caught next round
                logger.warning("could not renew the lease on %s: %s", self.prompt_set, exc)

    @contextmanager
    def held(self) -> Iterator[PartitionLease]:
        """Renewed in a thread while the block runs, released after it (even on errors)."""
        renewer = threading.Thread(target=self._keep_renewing, name="lease-renewer", daemon=True)
        renewer.start()
        try:
            yield self
        finally:
            self._stop.set()
            renewer.join(timeout=30)
            self.release()
