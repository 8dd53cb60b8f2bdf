"""Pacing, PTB's rate limiter for the bot: priorities, courtesy skipped when late, 429s."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.telegram.pacing import Courtesy, Paced, Pacing, Priority, Skipped

GROUP = -100123


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pacing(clock: Clock | None = None, **changes: Any) -> Pacing:
    values: dict[str, Any] = {
        "overall_max_rate": 30,
        "group_max_rate": 1,
        "group_time_period": 60.0,
        "max_retries": 2,
        "courtesy_within": 2.0,
    }
    values.update(changes)
    if clock is not None:
        values["clock"] = clock
    return Pacing(**values)


class Calls:
    """Bot API calls as the limiter lets them through, in order."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def request(
        self, limits: Pacing, name: str, args: Paced | None, *, chat_id: int | None = GROUP
    ) -> asyncio.Task[Any]:
        async def callback() -> bool:
            self.made.append(name)
            return True

        data = {} if chat_id is None else {"chat_id": chat_id}
        return asyncio.create_task(
            limits.process_request(callback, (), {}, "sendMessage", data, args)
        )


async def settle() -> None:
    """Let every task that can run do so."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_waiting_calls_go_by_priority_not_arrival() -> None:
    clock = Clock()
    limits = pacing(clock, courtesy_within=3600.0)
    calls = Calls()
    first = calls.request(limits, "status 1", Courtesy("status 1", since=clock()))
    await settle()
    assert first.done() and calls.made == ["status 1"]
    # The group may take its next message in a minute; meanwhile these queue up.
    tasks = [
        calls.request(limits, "status 2", Courtesy("status 2", since=clock())),
        calls.request(limits, "refusal", None),
        calls.request(limits, "status 3", Priority.COURTESY),
        calls.request(limits, "transcript", Priority.TRANSCRIPT),
    ]
    await settle()
    assert calls.made == ["status 1"]

    for _ in tasks:
        clock.now += 60
        limits._pump()
        await settle()

    assert calls.made == ["status 1", "transcript", "refusal", "status 2", "status 3"]
    assert all(t.done() and t.exception() is None for t in tasks)


async def test_courtesy_that_would_come_late_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limits = pacing(clock)
    calls = Calls()
    await calls.request(limits, "transcript", Priority.TRANSCRIPT)

    # The group's next slot is a minute away: far past a status message's two seconds.
    with caplog.at_level(logging.INFO, logger="bot.telegram.pacing"):
        status = calls.request(limits, "status", Courtesy("status job=7", since=clock()))
        with pytest.raises(Skipped):
            await status

    assert calls.made == ["transcript"]
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert line.startswith("status job=7 chat=-100123 skipped (late)")


async def test_courtesy_made_too_long_ago_is_skipped_even_with_room() -> None:
    clock = Clock()
    limits = pacing(clock)
    calls = Calls()
    old = Courtesy("progress job=3", since=clock() - 2.5)

    with pytest.raises(Skipped):
        await calls.request(limits, "progress", old, chat_id=42)

    assert calls.made == []


async def test_a_withdrawn_status_message_is_never_sent() -> None:
    clock = Clock()
    limits = pacing(clock, courtesy_within=3600.0)
    calls = Calls()
    await calls.request(limits, "transcript 1", Priority.TRANSCRIPT)
    courtesy = Courtesy("status job=2", since=clock())
    status = calls.request(limits, "status 2", courtesy)
    await settle()

    assert courtesy.withdraw() is True
    with pytest.raises(Skipped, match="withdrawn"):
        await status
    clock.now += 60
    limits._pump()
    assert calls.made == ["transcript 1"]
    # Withdrawn before it reaches the limiter: skipped on arrival.
    early = Courtesy("status job=3", since=clock())
    assert early.withdraw() is True
    with pytest.raises(Skipped):
        await calls.request(limits, "status 3", early)


async def test_a_status_message_on_its_way_cannot_be_withdrawn() -> None:
    limits = pacing()
    calls = Calls()
    courtesy = Courtesy("status job=1")
    await calls.request(limits, "status", courtesy)

    assert courtesy.withdraw() is False
    assert calls.made == ["status"]


async def test_calls_left_out_of_pacing_go_straight_through() -> None:
    clock = Clock()
    limits = pacing(clock)
    calls = Calls()
    await calls.request(limits, "transcript", Priority.TRANSCRIPT)
    queued = calls.request(limits, "answer", None)
    await settle()

    async def draft() -> bool:
        calls.made.append("draft")
        return True

    data = {"chat_id": GROUP}
    assert await limits.process_request(draft, (), {}, "sendMessageDraft", data, None)
    assert calls.made == ["transcript", "draft"]
    queued.cancel()


async def test_a_429_pauses_and_the_call_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    limits = pacing(group_time_period=0.01)
    tries: list[str] = []

    async def flooded() -> bool:
        tries.append("try")
        if len(tries) == 1:
            raise RetryAfter(timedelta(milliseconds=50))
        return True

    with caplog.at_level(logging.INFO, logger="bot.telegram.pacing"):
        answer = await limits.process_request(
            flooded, (), {}, "editMessageText", {"chat_id": 42}, Priority.TRANSCRIPT
        )

    assert answer is True
    assert tries == ["try", "try"]
    assert [r.levelno for r in caplog.records] == [logging.INFO]


async def test_a_pause_after_a_429_holds_other_calls_until_it_is_over() -> None:
    limits = pacing(group_time_period=0.01)
    order: list[str] = []

    async def flooded() -> bool:
        order.append("flooded")
        if order.count("flooded") == 1:
            raise RetryAfter(timedelta(milliseconds=100))
        return True

    async def other() -> bool:
        order.append("other")
        return True

    first = asyncio.create_task(
        limits.process_request(flooded, (), {}, "sendMessage", {"chat_id": 42}, None)
    )
    await settle()
    assert order == ["flooded"]  # the 429 is in: the limiter is paused
    second = asyncio.create_task(
        limits.process_request(other, (), {}, "sendMessage", {"chat_id": 43}, None)
    )
    no_chat = asyncio.create_task(limits.process_request(other, (), {}, "getMe", {}, None))
    await settle()
    assert order == ["flooded"]

    await asyncio.gather(first, second, no_chat)

    assert sorted(order[1:]) == ["flooded", "other", "other"]


async def test_giving_up_after_429s_is_one_warning_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = pacing(max_retries=1)
    tries = 0

    async def flooded() -> bool:
        nonlocal tries
        tries += 1
        raise RetryAfter(timedelta(milliseconds=20))

    with caplog.at_level(logging.INFO), pytest.raises(RetryAfter):
        await limits.process_request(
            flooded, (), {}, "sendMessage", {"chat_id": 42}, Priority.TRANSCRIPT
        )

    assert tries == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelno, r.exc_info) for r in warnings] == [(logging.WARNING, None)]
    assert "given up after 2 tries" in warnings[0].getMessage()


async def test_courtesy_hit_by_a_429_longer_than_its_bound_is_skipped() -> None:
    limits = pacing(courtesy_within=0.5)
    tries = 0

    async def flooded() -> bool:
        nonlocal tries
        tries += 1
        raise RetryAfter(3)

    with pytest.raises(Skipped, match="flood control"):
        await limits.process_request(
            flooded, (), {}, "sendMessage", {"chat_id": 42}, Courtesy("status job=1")
        )

    assert tries == 1
