"""The poll-scheduling rule (`fal_platform/batch/poll_schedule.py`), without a server."""

from __future__ import annotations

import pytest

from fal_platform.batch import poll_schedule as ps
from fal_platform.client import Completed, InProgress, Queued

KNOWN = ps.EndpointTimes(aim=1.0, running=0.7)


def plan(item: ps.ItemPolls, times: ps.EndpointTimes = KNOWN) -> ps.NextPoll:
    return ps.next_poll(item, times, first_interval=0.5, backoff=1.5, ceiling=5.0)


def test_nothing_known_backs_off_from_the_first_interval_to_the_ceiling() -> None:
    delays = [plan(ps.ItemPolls(elapsed=0, polls=n), ps.EndpointTimes()).delay for n in range(9)]
    assert delays[:3] == [0.5, 0.75, 1.125]
    assert delays[-1] == 5.0
    assert plan(ps.ItemPolls(elapsed=0), ps.EndpointTimes()).kind == "blind"


def test_a_scout_polls_densely_until_the_endpoint_has_an_aim() -> None:
    unknown = ps.EndpointTimes()
    first = plan(ps.ItemPolls(elapsed=0, scout=True), unknown)
    assert first == ps.NextPoll(0.5)  # its first poll is the blind one
    later = plan(ps.ItemPolls(elapsed=0.8, polls=2, scout=True), unknown)
    assert later == ps.NextPoll(pytest.approx(ps.SCOUT_GAP * 0.8))
    assert plan(ps.ItemPolls(elapsed=0.8, polls=2), unknown).delay == 1.125  # the others
    # A poll made at once (after a stream answered 404) does not start the dense polls early.
    at_once = plan(ps.ItemPolls(elapsed=0.01, polls=1, scout=True), unknown)
    assert at_once == ps.NextPoll(pytest.approx(0.49))
    aimed = plan(ps.ItemPolls(elapsed=0.8, polls=2, scout=True))
    assert aimed == ps.NextPoll(pytest.approx(0.2), "aimed")  # once there is an aim


def test_the_first_poll_is_aimed_at_when_jobs_are_usually_done() -> None:
    first = plan(ps.ItemPolls(elapsed=0.2))
    assert first == ps.NextPoll(pytest.approx(0.8), "aimed")
    # An aim further away than the ceiling is still taken: it is informed, not blind.
    assert plan(ps.ItemPolls(elapsed=0), ps.EndpointTimes(aim=30.0)).delay == 30.0


def test_a_job_still_running_after_the_aim_is_polled_at_a_share_of_the_job_time_doubling() -> None:
    item = ps.seen(ps.ItemPolls(elapsed=0.0), InProgress(), 1.0, "aimed")
    first = plan(item)  # the aim is 1.0 s
    assert first == ps.NextPoll(pytest.approx(ps.FOLLOW_UP), "follow_up")
    again = ps.seen(item, InProgress(), 1.0 + ps.FOLLOW_UP, first.kind)
    assert plan(again).delay == pytest.approx(2 * ps.FOLLOW_UP)


def test_a_queued_job_is_not_polled_before_it_can_have_run() -> None:
    # Seen at position 4 at submit and 2 one second later: two positions drain per second,
    # so it starts in about a second and runs 0.7 s more.
    item = ps.ItemPolls(elapsed=0.0, first_position=4, first_position_at=0.0)
    item = ps.seen(item, Queued(position=2), 1.0, "aimed")
    assert plan(item) == ps.NextPoll(pytest.approx(1.0 + 0.7), "follow_up")
    # Without a drain rate: at least a running time.
    still = ps.seen(ps.ItemPolls(elapsed=0.0), Queued(position=0), 1.0, "aimed")
    assert plan(still).delay == pytest.approx(0.7)


def test_an_item_past_the_aim_is_followed_up_at_once_not_aimed() -> None:
    reattached = plan(ps.ItemPolls(elapsed=40.0))
    assert reattached == ps.NextPoll(pytest.approx(ps.FOLLOW_UP), "follow_up")


def test_the_aim_moves_from_the_poll_not_from_itself_and_never_below_the_running_time() -> None:
    down, up = ps.AIM_STEP * (1 - ps.AIM_QUANTILE), ps.AIM_STEP * ps.AIM_QUANTILE
    assert ps.moved_aim(1.0, 1.0, done=True) == pytest.approx(1 - down)
    assert ps.moved_aim(1.0, 1.0, done=False) == pytest.approx(1 + up)
    # At equilibrium AIM_QUANTILE of the aimed polls find the job done.
    assert up == pytest.approx(4 * down)
    # Sixteen items aimed at 0.8 all find their job running: the aim moves once, not 16 times.
    aim = 1.0
    for _ in range(16):
        aim = ps.moved_aim(aim, 0.8, done=False)
    assert aim == 1.0
    assert ps.moved_aim(1.0, 0.5, done=True, floor=0.7) == 0.7


def test_the_learner_starts_the_aim_from_the_first_job_done_and_its_running_time() -> None:
    learner = ps.TimesLearner()
    learner.aimed("a/b", 1.0, done=True, probe=False)  # no aim yet: nothing to move
    assert learner.times("a/b") == ps.EndpointTimes()
    learner.ran("a/b", 0.7)
    learner.first_done("a/b", done_after=1.25, not_done_after=0.75)
    learner.first_done("a/b", done_after=9.0, not_done_after=0.0)  # the first one counts
    assert learner.times("a/b") == ps.EndpointTimes(aim=1.0, running=0.7)
    assert ps.first_aim(1.0, 0.2, running=0.9) == 0.9


def test_seen_keeps_the_first_position_and_the_last_queued_moment() -> None:
    item = ps.seen(ps.ItemPolls(elapsed=0.0), Queued(position=3), 0.5, "blind")
    item = ps.seen(item, Queued(position=1), 0.9, "blind")
    item = ps.seen(item, Completed(), 1.4, "aimed")
    assert (item.first_position, item.first_position_at, item.queued_until) == (3, 0.5, 0.9)
    assert (item.polls, item.aimed, item.follow_ups) == (3, True, 1)


def test_earlier_runs_seed_the_aim_at_their_quantile_and_this_run_keeps_its_own() -> None:
    assert ps.aim_from_history([]) is None
    assert ps.aim_from_history([1.2]) == 1.2
    assert ps.aim_from_history([float(n) for n in range(1, 102)]) == pytest.approx(81.0)
    learner = ps.TimesLearner()
    learner.ran("a/b", 0.7)
    learner.seed("a/b", [0.5, 0.6])  # below the running time: raised to it
    assert learner.times("a/b").aim == 0.7
    learner.seed("a/b", [3.0])
    learner.first_done("a/b", done_after=2.0, not_done_after=1.0)
    assert learner.times("a/b").aim == 0.7


def test_a_probe_polls_between_the_running_time_and_the_aim() -> None:
    times = ps.EndpointTimes(aim=1.3, running=0.7)
    probe = plan(ps.ItemPolls(elapsed=0.0, probe=0.5), times)
    assert probe == ps.NextPoll(pytest.approx(1.0), "aimed")
    # Without a running time yet, the way starts at the submit.
    assert ps.probe_at(1.3, None, 0.5) == pytest.approx(0.65)
    # An aim at the running time leaves no room to probe: the probe polls at the aim.
    assert ps.probe_at(0.7, 0.7, 0.5) == pytest.approx(0.7)


def test_a_done_probe_brings_an_aim_learned_too_high_down_at_once() -> None:
    learner = ps.TimesLearner()
    learner.ran("e", 0.7)
    learner.seed("e", [1.46])  # an earlier run's job: seen running at 0.76 s, so done by 1.46 s
    probe_moment = ps.probe_at(1.46, 0.7, ps.PROBE_SHARES[0])
    assert probe_moment == pytest.approx(1.08)
    learner.aimed("e", probe_moment, done=True, probe=True)
    lowered = probe_moment * (1 - ps.AIM_STEP * (1 - ps.AIM_QUANTILE))
    assert learner.times("e").aim == pytest.approx(lowered)
    # A probe that finds its job running leaves the aim, even just below it...
    learner.aimed("e", lowered * 0.99, done=False, probe=True)
    assert learner.times("e").aim == pytest.approx(lowered)
    # ...where an aimed poll that finds it running moves the aim above that poll.
    learner.aimed("e", lowered * 0.99, done=False, probe=False)
    assert learner.times("e").aim > lowered


def test_probes_take_the_shares_in_turn_and_the_other_items_are_not_probes() -> None:
    probes = [ps.probe_share(index) for index in range(0, 6 * ps.PROBE_EVERY, ps.PROBE_EVERY)]
    assert probes == [*ps.PROBE_SHARES, *ps.PROBE_SHARES]
    assert {ps.probe_share(index) for index in range(1, ps.PROBE_EVERY)} == {None}


def test_a_probe_that_finds_its_job_running_polls_again_at_the_aim_then_follows_up() -> None:
    share = ps.PROBE_SHARES[0]
    moment = ps.probe_at(1.0, 0.7, share)
    probe = ps.seen(ps.ItemPolls(elapsed=0.0, probe=share), InProgress(), moment, "aimed")
    at_aim = plan(probe)  # the aim is 1.0 s
    assert at_aim == ps.NextPoll(pytest.approx(1.0 - moment), "aimed")
    still = ps.seen(probe, InProgress(), 1.0, at_aim.kind)
    assert plan(still) == ps.NextPoll(pytest.approx(ps.FOLLOW_UP), "follow_up")
