"""When to poll a job's status next: at the moment it is likely done, not on a blind backoff.

Without a status stream every poll is an HTTP request, and every poll made before a job ends
is wasted while every second between its end and the next poll is latency. The rule aims one
poll at the time jobs of this endpoint usually need from submit to completion (`aim`), learned
in the run: each item's aimed poll that finds its job done nudges `aim` down a little, one that
does not nudges it up more (stochastic approximation of the `AIM_QUANTILE` quantile of job
time), so about that share of items takes one poll, and `aim` follows the endpoint if it slows
down. A job that was not done gets follow-up polls from what fal said: still IN_QUEUE, it cannot
end before it starts and runs (its queue position and how fast positions drain give the start,
the observed running times the rest); IN_PROGRESS, it is close, so polls follow at `FOLLOW_UP`
of the job time, doubling. Before any job of the endpoint has ended (and when earlier runs stored
none), the first poll waits `first_interval` and the next ones back off x`backoff`
(`BatchSettings.poll_interval`, `poll_backoff`), except for a few scouts that poll every
`SCOUT_GAP` of their elapsed time; `follow.py` ends those blind waits as soon as the first job's
end gives the endpoint an aim.

The rules are pure functions; `TimesLearner` is the one place their per-endpoint state lives,
and `follow.py` makes the polls and sleeps.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

from fal_platform.client import Queued, QueueStatus

AIM_QUANTILE = 0.8
"""Share of jobs the aimed poll should find done: higher means fewer polls, later results."""
AIM_STEP = 0.05
"""How far (share of `aim`) one observation moves it: small enough that `aim` stays within a
few percent of a steady endpoint's job time (0.1 left p50 latency 1.05-1.2x at c=16-256, 0.05
1.03-1.09x for as many requests; benchmarks/README.md section 7), large enough to settle within
a few dozen items (probes bring a high aim down at once)."""
FOLLOW_UP = 0.05
"""First follow-up gap as a share of `aim`: a late job is seen within ~5% of the job time."""
MIN_DELAY = 0.01
"""Never poll faster than this (a zero-latency endpoint would otherwise spin)."""
PROBE_EVERY = 5
"""One item in this many (by item index) makes its aimed poll early (`PROBE_SHARES`)."""
PROBE_SHARES = (0.5, 0.75, 0.95)
"""Where probes poll, in turn (`probe_share`): at these shares of the way from the running time
(no job ends sooner) to `aim`. A probe that finds its job done moves `aim` down to it at once: an
aim learned too high (earlier runs' jobs seen done late, or an endpoint that got faster) comes
down within a round instead of 1% a round; one that finds the job running costs one request,
and polls again at `aim` with the others. With a 1 s job that runs 0.7 s and an aim of 1.46 s
(a job first seen running at 0.76 s), the first probe polls at 1.08 s; near a settled aim of
1.04 s they poll at 0.87, 0.96 and 1.02 s, the last one trimming an aim a few percent high
(aimed polls that find their job done lower it by only 1% each round)."""
SCOUTS = 2
"""Per endpoint and run, how many items poll densely while nothing is known of its jobs (no
aim from this run or earlier ones): the first job seen done then gives every other item, and
the next runs (`recent_job_times`), a job time within ~`SCOUT_GAP`. Blind backoff alone saw a
1 s job done at 1.9 s, and runs aimed from that for rounds (benchmarks/README.md section 7,
"Sixth round")."""
SCOUT_GAP = 0.1
"""A scout's gap between polls as a share of the time since its submit: ~8 polls for a 1 s job,
~30 for a 10 s one, once per endpoint."""
RUNNING_SAMPLES = 64
"""Recent running times kept per endpoint (their median is "the running time")."""


@dataclass(frozen=True)
class ItemPolls:
    """What one item's follower has seen so far (times in seconds since its submit)."""

    elapsed: float
    polls: int = 0
    """Status polls made so far."""
    aimed: bool = False
    """The aimed poll has been made (follow-ups come after it)."""
    status: QueueStatus | None = None
    """The last status fal reported (None before the first poll)."""
    first_position: int | None = None
    """The queue position fal gave first (at submit, or the first IN_QUEUE poll)."""
    first_position_at: float = 0.0
    queued_until: float = 0.0
    """When it was last seen IN_QUEUE (0: the submit, whose answer says IN_QUEUE)."""
    follow_ups: int = 0
    """Aimed and follow-up polls so far: each follow-up waits twice as long as the one before."""
    scout: bool = False
    """It polls densely until the endpoint has an aim (`SCOUTS`)."""
    probe: float | None = None
    """How early its aimed poll comes, to learn whether jobs end sooner: a share of the way from
    the running time to `aim` (`probe_share`, `probe_at`); None: not a probe."""


@dataclass(frozen=True)
class EndpointTimes:
    """What the run has learned about one endpoint's jobs."""

    aim: float | None = None
    """Seconds from submit at which about `AIM_QUANTILE` of its jobs are done."""
    running: float | None = None
    """Typical running time (median of fal's `metrics.inference_time`)."""


PollKind = Literal["blind", "aimed", "follow_up"]


@dataclass(frozen=True)
class NextPoll:
    delay: float
    """Seconds to sleep before the poll."""
    kind: PollKind = "blind"
    """blind: nothing is known yet; aimed: the item's poll at `aim`, whose outcome moves it;
    follow_up: after the aimed poll (or once `aim` had passed) found the job not done."""


def next_poll(
    item: ItemPolls,
    times: EndpointTimes,
    *,
    first_interval: float,
    backoff: float,
    ceiling: float,
) -> NextPoll:
    """When to make this item's next status poll.

    `first_interval` is the first poll interval when nothing is known yet, `ceiling` the
    longest blind or follow-up interval (an aimed poll may be further away: it is informed).
    """
    aim = times.aim
    if aim is None:
        if item.scout and item.polls:  # after its first poll at `first_interval`
            gap = max(SCOUT_GAP * item.elapsed, first_interval - item.elapsed)
            return NextPoll(_clamp(gap, ceiling))
        return NextPoll(_clamp(first_interval * backoff**item.polls, ceiling))
    queued = isinstance(item.status, Queued)
    target = aim if item.probe is None else probe_at(aim, times.running, item.probe)
    if not item.aimed and item.elapsed < target:
        wait = _queued_remaining(item, times, aim) if queued else 0.0
        return NextPoll(max(MIN_DELAY, target - item.elapsed, wait), "aimed")
    if queued:
        remaining = _queued_remaining(item, times, aim)
        return NextPoll(_clamp(remaining, max(ceiling, aim)), "follow_up")
    if item.probe is not None and item.follow_ups == 1 and item.elapsed < aim - MIN_DELAY:
        # A probe found its job running: it polls at `aim` with the others, since follow-ups
        # from the probe's early moment reached `aim` only after their gaps had doubled.
        return NextPoll(aim - item.elapsed, "aimed")
    doubled = item.follow_ups - (1 if item.probe is None else 2)
    gap = FOLLOW_UP * aim * 2 ** max(0, doubled)
    return NextPoll(_clamp(gap, ceiling), "follow_up")


def probe_share(item_index: int) -> float | None:
    """The share (`probe_at`) at which this item's aimed poll probes; None: it is not a probe."""
    if item_index % PROBE_EVERY:
        return None
    return PROBE_SHARES[(item_index // PROBE_EVERY) % len(PROBE_SHARES)]


def probe_at(aim: float, running: float | None, share: float) -> float:
    """A probe's moment: `share` of the way from the running time (0 if unknown) to `aim`."""
    floor = min(running or 0.0, aim)
    return floor + (aim - floor) * share


def _queued_remaining(item: ItemPolls, times: EndpointTimes, aim: float) -> float:
    """Still queued: it ends no sooner than its start plus a running time."""
    assert isinstance(item.status, Queued)
    position = item.status.position
    running = times.running if times.running is not None else FOLLOW_UP * aim
    start_in = 0.0
    first, since = item.first_position, item.elapsed - item.first_position_at
    if first is not None and position < first and since > 0:
        drain = (first - position) / since  # positions per second
        start_in = position / drain
    return start_in + running


def _clamp(delay: float, ceiling: float) -> float:
    return min(max(delay, MIN_DELAY), max(ceiling, MIN_DELAY))


def moved_aim(aim: float, polled_at: float, done: bool, *, floor: float = 0.0) -> float:
    """`aim` after an aimed poll at `polled_at` (seconds after submit) found the job `done` or not.

    Done: a little below that poll; not done: more above it (at equilibrium `AIM_QUANTILE` of
    aimed polls find the job done). Relative to the poll, not to the current `aim`: the many
    items aimed at the same moment answer together, and their answers must not compound.
    Never below `floor` (the running time: no job ends before it has run).
    """
    if done:
        return max(min(aim, polled_at * (1 - AIM_STEP * (1 - AIM_QUANTILE))), floor)
    return max(aim, polled_at * (1 + AIM_STEP * AIM_QUANTILE), floor)


def first_aim(done_after: float, not_done_after: float, running: float | None) -> float:
    """The first `aim` of an endpoint, from the first job seen done (before any aim existed).

    Its end lies after the last poll that found it not done (`not_done_after`, with the last
    time it was seen queued plus its running time when that is later) and before the poll that
    found it done: take the middle.
    """
    return max((done_after + not_done_after) / 2, running or 0.0)


def aim_from_history(durations: list[float]) -> float | None:
    """Earlier runs' submit-to-completion times of an endpoint: their `AIM_QUANTILE` quantile."""
    if not durations:
        return None
    if len(durations) == 1:
        return durations[0]
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return cuts[round(AIM_QUANTILE * 100) - 1]


@dataclass
class TimesLearner:
    """Per endpoint, the `aim` and recent running times of this run (mutable, in one place)."""

    _aims: dict[str, float] = field(default_factory=dict)
    _running: dict[str, deque[float]] = field(default_factory=dict)

    def times(self, endpoint_id: str) -> EndpointTimes:
        samples = self._running.get(endpoint_id)
        running = statistics.median(samples) if samples else None
        return EndpointTimes(aim=self._aims.get(endpoint_id), running=running)

    def ran(self, endpoint_id: str, inference_time: float | None) -> None:
        if inference_time is not None and inference_time >= 0:
            samples = self._running.setdefault(endpoint_id, deque(maxlen=RUNNING_SAMPLES))
            samples.append(inference_time)

    def aimed(self, endpoint_id: str, polled_at: float, done: bool, *, probe: bool) -> None:
        """An aimed poll's outcome; a `probe` (polled early on purpose) only ever lowers `aim`:
        finding its job running is what a probe expects when `aim` is right."""
        aim = self._aims.get(endpoint_id)
        if aim is not None and (done or not probe):
            running = self.times(endpoint_id).running
            self._aims[endpoint_id] = moved_aim(aim, polled_at, done, floor=running or 0.0)

    def seed(self, endpoint_id: str, durations: list[float]) -> None:
        """Start from earlier runs' job times (this run's first job then moves it, not sets it)."""
        aim = aim_from_history(durations)
        if aim is not None and endpoint_id not in self._aims:
            self._aims[endpoint_id] = max(aim, self.times(endpoint_id).running or 0.0)

    def first_done(self, endpoint_id: str, done_after: float, not_done_after: float) -> None:
        """A job ended before the endpoint had an aim: start one from it."""
        if endpoint_id not in self._aims:
            running = self.times(endpoint_id).running
            self._aims[endpoint_id] = first_aim(done_after, not_done_after, running)


def seen(item: ItemPolls, status: QueueStatus, elapsed: float, kind: PollKind) -> ItemPolls:
    """The item after a `kind` poll at `elapsed` answered `status`."""
    first, first_at = item.first_position, item.first_position_at
    if isinstance(status, Queued) and first is None:
        first, first_at = status.position, elapsed
    return replace(
        item,
        elapsed=elapsed,
        polls=item.polls + 1,
        aimed=item.aimed or kind == "aimed",
        status=status,
        first_position=first,
        first_position_at=first_at,
        queued_until=elapsed if isinstance(status, Queued) else item.queued_until,
        follow_ups=item.follow_ups + (kind != "blind"),
    )
