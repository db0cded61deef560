"""The life of one item: submit (write-ahead), follow the job, fetch its result, or stop it.

Rules that make a crash (even SIGKILL) never pay twice, in the order they happen here:

- Write-ahead: before a submit leaves, its row is committed as UNKNOWN (the intent, with
  `attempts + 1` and the intent time in `submitted_at`). After fal answers, the row is committed
  as SUBMITTED with fal's request id and URLs before the item waits on the job. A run that dies
  in between leaves UNKNOWN, which the next run reconciles against fal's request history
  (`reconcile.py`) instead of resubmitting.
- A submit failure that may have reached fal (`may_have_been_accepted`) is reconciled at once;
  one that certainly did not (connect error, 429, 4xx) returns the item to PENDING (or FAILED
  for 4xx) and does not count as an attempt.
- A job that fails (5xx at result time, timeouts) is resubmitted until `max_attempts`; a 422 is
  never retried (`transitions.may_retry`).
- Stopping: a job still SUBMITTED/IN_QUEUE is cancelled (it costs nothing yet), an
  IN_PROGRESS one is left for the next run to re-attach.

Every new row comes from a pure function in `transitions.py`; this module decides when.
"""

from __future__ import annotations

from collections.abc import Iterable

from fal_platform.batch.follow import Follower
from fal_platform.batch.recorder import Recorder
from fal_platform.batch.rows import JobTime, RequestRow, RequestState
from fal_platform.batch.submit import BatchAbortedError, Submitter

__all__ = ["BatchAbortedError", "ItemDriver"]

S = RequestState


class ItemDriver:
    """Drives the items of one run; shared between them: the pace, the writer, stream health."""

    def __init__(self, rec: Recorder) -> None:
        self._submitter = Submitter(rec)
        self._follower = Follower(rec)
        self._stop = rec.stop
        self._report = rec.report

    def learn_history(self, jobs: Iterable[JobTime]) -> None:
        """Earlier runs' job times, so polling is aimed from the first item (`follow.py`)."""
        self._follower.learn_history(jobs)

    async def drive(self, row: RequestRow, needs_submit: bool) -> None:
        """Take one item from where it is to a terminal state (or as far as a stop allows)."""
        while True:
            if needs_submit:
                if self._stop.is_set():
                    return
                row = await self._submitter.submit(row)
                if row.state is S.PENDING:
                    continue
                if row.state is not S.SUBMITTED:
                    return  # FAILED, or UNKNOWN when history could not be read
                needs_submit = False
            row = await self._follower.follow(row)
            if row.state is not S.PENDING:
                return
            needs_submit = True
            self._report.retries += 1
