"""Which waiting Bot API calls may go now under Telegram's limits, by priority: the bookkeeping
of bot.telegram.pacing, without I/O and with the time passed in."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field

Lane = int | str | None
"""The group a call goes to (its chat id), limited per chat; None: no per-chat limit."""

MAX_IDLE_GROUPS = 512
"""Past this many groups' buckets, the empty ones are let go."""


class Bucket:
    """At most `rate` calls per `period` seconds: a leaky bucket holding `rate` calls (at least
    one), as aiolimiter's AsyncLimiter, which PTB's AIORateLimiter uses."""

    def __init__(self, rate: float, period: float) -> None:
        self.rate = rate
        self.period = period
        self._level = 0.0
        self._at = 0.0

    def _leak(self, now: float) -> None:
        if now > self._at:
            self._level = max(0.0, self._level - (now - self._at) * self.rate / self.period)
            self._at = now

    def ready_at(self, now: float) -> float:
        """When the next call fits (`now` if it does already)."""
        self._leak(now)
        excess = self._level + 1 - max(self.rate, 1.0)
        return now if excess <= 1e-9 else now + excess * self.period / self.rate

    def take(self, now: float) -> None:
        self._leak(now)
        self._level += 1

    def empty(self, now: float) -> bool:
        self._leak(now)
        return self._level <= 1e-9


@dataclass(eq=False)
class Ticket:
    """One call waiting for its turn."""

    priority: int
    arrival: int
    """Its place among calls of the same priority (kept when a 429 sends it back)."""
    lane: Lane
    deadline: float | None = None
    """Skipped when its turn has not come by then (courtesy); None: it waits as long as it takes."""
    waiter: asyncio.Future[str | None] | None = None
    """Set to None when the call may go, or to why it will not."""
    done: bool = field(default=False, init=False)
    outcome: str | None = field(default=None, init=False)
    """Once done: None when it went, else why it did not."""

    def grant(self) -> None:
        self._settle(None)

    def end(self, reason: str) -> None:
        """It will not go (withdrawn, cancelled, late); nothing if its turn has come already."""
        self._settle(reason)

    def _settle(self, outcome: str | None) -> None:
        if self.done:
            return
        self.done, self.outcome = True, outcome
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(outcome)


Entry = tuple[int, int, int, Ticket]
"""A ticket in a lane's heap: priority, arrival, then a tie-break that keeps tickets apart."""


class Schedule:
    """Waiting calls in lanes (one per group, one for all other chats), each lane a heap by
    priority then arrival; the overall bucket, one bucket per group, and a pause after a 429.
    `due` hands out the calls that may go now, best first across lanes."""

    def __init__(self, overall_rate: float, group_rate: float, group_period: float) -> None:
        self._rates = (overall_rate, group_rate, group_period)
        self.share = 1
        self._overall = Bucket(overall_rate, 1.0) if overall_rate else None
        self._groups: dict[int | str, Bucket] = {}
        self._lanes: dict[Lane, list[Entry]] = {}
        self._deadlines: list[tuple[float, int, Ticket]] = []
        self._order = itertools.count()
        self.paused_until = 0.0

    def set_share(self, replicas: int) -> None:
        """Take 1/`replicas` of each limit: the overall rate divided, each group's period
        multiplied (what was spent stays spent)."""
        overall_rate, _, group_period = self._rates
        self.share = replicas
        if self._overall is not None:
            self._overall.rate = overall_rate / replicas
        for bucket in self._groups.values():
            bucket.period = group_period * replicas

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def add(self, ticket: Ticket, now: float) -> None:
        """Queue a ticket; one with a deadline before it could possibly go ends "late" at once."""
        if ticket.deadline is not None and ticket.deadline <= self._earliest(ticket.lane, now):
            ticket.end("late")
            return
        n = next(self._order)
        heapq.heappush(
            self._lanes.setdefault(ticket.lane, []), (ticket.priority, ticket.arrival, n, ticket)
        )
        if ticket.deadline is not None:
            heapq.heappush(self._deadlines, (ticket.deadline, n, ticket))

    def waiting(self) -> list[Ticket]:
        """The tickets waiting, best first in each lane (for tests and logs)."""
        return [e[3] for lane in self._lanes.values() for e in sorted(lane) if not e[3].done]

    def due(self, now: float) -> tuple[list[Ticket], list[Ticket], float | None]:
        """Grant the tickets that may go now (their budget taken) and end those past their
        deadline, or sure to miss it in a pause; both lists, and when to look again (None:
        nothing waits)."""
        late = self._late(max(now, self.paused_until))
        if now < self.paused_until:
            return [], late, self._wake(self.paused_until)
        go: list[Ticket] = []
        while True:
            heap, wake = self._best(now)
            if heap is None:
                break
            if self._overall is not None:
                ready = self._overall.ready_at(now)
                if ready > now:
                    wake = ready if wake is None else min(wake, ready)
                    break
                self._overall.take(now)
            ticket = heapq.heappop(heap)[3]
            group = self._group(ticket.lane)
            if group is not None:
                group.take(now)
            ticket.grant()
            go.append(ticket)
        self._forget_idle_groups(now)
        return go, late, self._wake(wake)

    def _best(self, now: float) -> tuple[list[Entry] | None, float | None]:
        """The lane whose head goes next (None: no lane may send now), and when a lane held
        by its group's limit may send again."""
        best: list[Entry] | None = None
        wake: float | None = None
        for lane in list(self._lanes):
            heap = self._lanes[lane]
            while heap and heap[0][3].done:
                heapq.heappop(heap)
            if not heap:
                del self._lanes[lane]
                continue
            group = self._group(lane)
            if group is not None and (ready := group.ready_at(now)) > now:
                wake = ready if wake is None else min(wake, ready)
                continue
            if best is None or heap[0] < best[0]:
                best = heap
        return best, wake

    def _late(self, horizon: float) -> list[Ticket]:
        late = []
        while self._deadlines and (self._deadlines[0][0] <= horizon or self._deadlines[0][2].done):
            ticket = heapq.heappop(self._deadlines)[2]
            if not ticket.done:
                ticket.end("late")
                late.append(ticket)
        return late

    def _wake(self, at: float | None) -> float | None:
        """`at`, or the next deadline if sooner; None when nothing waits."""
        if not any(self._lanes.values()):
            return None
        if self._deadlines and (at is None or self._deadlines[0][0] < at):
            return self._deadlines[0][0]
        return at

    def _earliest(self, lane: Lane, now: float) -> float:
        """The soonest a call to `lane` could go, were nothing else waiting."""
        earliest = max(now, self.paused_until)
        if self._overall is not None:
            earliest = max(earliest, self._overall.ready_at(now))
        group = self._group(lane)
        if group is not None:
            earliest = max(earliest, group.ready_at(now))
        return earliest

    def _group(self, lane: Lane) -> Bucket | None:
        _, group_rate, group_period = self._rates
        if not isinstance(lane, int | str) or not group_rate or not group_period:
            return None
        bucket = self._groups.get(lane)
        if bucket is None:
            bucket = self._groups[lane] = Bucket(group_rate, group_period * self.share)
        return bucket

    def _forget_idle_groups(self, now: float) -> None:
        if len(self._groups) <= MAX_IDLE_GROUPS:
            return
        for lane, bucket in list(self._groups.items()):
            if lane not in self._lanes and bucket.empty(now):
                del self._groups[lane]
