"""Schedule: which waiting calls go, in which order, under the overall and per-group limits."""

from __future__ import annotations

import itertools

import pytest

from bot.telegram.pacing import Priority
from bot.telegram.schedule import Schedule, Ticket

GROUP = -100123
OTHER_GROUP = -100456
PRIVATE = None  # the lane of every chat that is not a group

arrivals = itertools.count()


def ticket(priority: Priority, lane: int | None, deadline: float | None = None) -> Ticket:
    return Ticket(priority, next(arrivals), lane, deadline)


def schedule(overall: float = 30, group: tuple[float, float] = (1, 3.0)) -> Schedule:
    return Schedule(overall, *group)


def test_a_transcript_goes_before_the_status_messages_that_were_waiting() -> None:
    s = schedule()
    first = ticket(Priority.COURTESY, GROUP)
    s.add(first, 0.0)
    assert s.due(0.0)[0] == [first]
    status_2, status_3 = ticket(Priority.COURTESY, GROUP), ticket(Priority.COURTESY, GROUP)
    answer = ticket(Priority.ANSWER, GROUP)
    transcript = ticket(Priority.TRANSCRIPT, GROUP)
    for t in (status_2, status_3, answer, transcript):
        s.add(t, 0.5)

    # The group's next message is due three seconds after the first.
    assert s.due(0.5) == ([], [], pytest.approx(3.0))
    sent = [s.due(at)[0] for at in (3.0, 6.0, 9.0, 12.0)]

    assert sent == [[transcript], [answer], [status_2], [status_3]]
    assert s.due(12.0) == ([], [], None)


def test_within_a_priority_calls_go_in_arrival_order() -> None:
    s = schedule(overall=2, group=(0, 0))
    parts = [ticket(Priority.TRANSCRIPT, PRIVATE) for _ in range(4)]
    for t in parts:
        s.add(t, 0.0)

    go, _, wake = s.due(0.0)

    assert go == parts[:2]  # a burst of the overall rate, then its pace
    assert wake == 0.5
    assert s.due(0.5)[0] == [parts[2]]
    assert s.due(1.0)[0] == [parts[3]]


def test_a_group_at_its_limit_holds_back_nobody_else() -> None:
    s = schedule()
    s.add(ticket(Priority.TRANSCRIPT, GROUP), 0.0)
    s.due(0.0)
    held = ticket(Priority.TRANSCRIPT, GROUP)
    status_elsewhere = ticket(Priority.COURTESY, PRIVATE)
    other_group = ticket(Priority.ANSWER, OTHER_GROUP)
    for t in (held, status_elsewhere, other_group):
        s.add(t, 0.1)

    go, _, wake = s.due(0.1)

    assert go == [other_group, status_elsewhere]
    assert (held.done, wake) == (False, pytest.approx(3.0))


def test_the_overall_limit_serves_the_best_of_all_chats_first() -> None:
    s = schedule(overall=1)
    s.add(ticket(Priority.ANSWER, PRIVATE), 0.0)
    s.due(0.0)
    status = ticket(Priority.COURTESY, PRIVATE)
    answer = ticket(Priority.ANSWER, GROUP)
    transcript = ticket(Priority.TRANSCRIPT, OTHER_GROUP)
    for t in (status, answer, transcript):
        s.add(t, 0.2)

    assert [s.due(at)[0] for at in (0.2, 1.0, 2.0, 3.0)] == [[], [transcript], [answer], [status]]


def test_courtesy_past_its_deadline_is_dropped_not_sent() -> None:
    s = schedule()
    s.add(ticket(Priority.TRANSCRIPT, GROUP), 0.0)
    s.due(0.0)
    transcript = ticket(Priority.TRANSCRIPT, GROUP)
    status = ticket(Priority.COURTESY, GROUP, deadline=4.0)
    s.add(transcript, 0.1)
    s.add(status, 0.1)

    assert s.due(3.0)[0] == [transcript]
    go, late, wake = s.due(4.0)

    assert (go, late, wake) == ([], [status], None)
    assert status.outcome == "late"


def test_courtesy_that_could_not_go_before_its_deadline_is_dropped_at_once() -> None:
    s = schedule()
    s.add(ticket(Priority.ANSWER, GROUP), 0.0)
    s.due(0.0)
    status = ticket(Priority.COURTESY, GROUP, deadline=2.0)  # the group's next slot: 3.0

    s.add(status, 0.0)

    assert (status.done, status.outcome) == (True, "late")
    assert s.waiting() == []


def test_a_pause_holds_every_call_and_drops_courtesy_it_makes_late() -> None:
    s = schedule()
    answer = ticket(Priority.ANSWER, PRIVATE)
    status = ticket(Priority.COURTESY, PRIVATE, deadline=10.0)
    s.add(answer, 0.0)
    s.add(status, 0.0)
    s.pause(until=12.0)

    go, late, wake = s.due(1.0)

    assert (go, late, wake) == ([], [status], 12.0)
    assert s.due(12.0)[0] == [answer]


def test_a_withdrawn_call_is_passed_over() -> None:
    s = schedule(overall=1)
    s.add(ticket(Priority.ANSWER, PRIVATE), 0.0)
    s.due(0.0)
    status, answer = ticket(Priority.COURTESY, PRIVATE, 5.0), ticket(Priority.ANSWER, PRIVATE)
    s.add(status, 0.0)
    s.add(answer, 0.0)

    status.end("withdrawn")

    assert s.due(1.0) == ([answer], [], None)
    assert status.outcome == "withdrawn"


def test_with_two_replicas_each_takes_half_of_each_limit() -> None:
    s = schedule(overall=30, group=(1, 3.0))
    s.set_share(2)
    group = [ticket(Priority.ANSWER, GROUP) for _ in range(2)]
    private = [ticket(Priority.ANSWER, PRIVATE) for _ in range(20)]
    for t in group + private:
        s.add(t, 0.0)

    go, _, _ = s.due(0.0)

    assert len(go) == 15  # half of the overall 30 a second
    assert group[0] in go and not group[1].done
    # One message per 6 s in the group (3 s × 2), whatever the overall budget.
    assert group[1] not in s.due(5.9)[0]
    assert group[1] in s.due(6.0)[0]


def test_back_to_one_replica_the_whole_limits_return() -> None:
    s = schedule(overall=30, group=(1, 3.0))
    s.set_share(3)
    s.set_share(1)
    calls = [ticket(Priority.ANSWER, PRIVATE) for _ in range(40)]
    for t in calls:
        s.add(t, 0.0)

    assert len(s.due(0.0)[0]) == 30


def test_no_limit_lets_everything_go() -> None:
    s = schedule(overall=0, group=(0, 0))
    calls = [ticket(Priority.COURTESY, GROUP) for _ in range(100)]
    for t in calls:
        s.add(t, 0.0)

    assert s.due(0.0) == (calls, [], None)
