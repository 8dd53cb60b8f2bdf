"""ReadyTurns: small notes get ready for Mistral a slot's worth at a time, fairly."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.transcription.slots import MIN_READYING, READY_BYTES, ReadyTurns, Stopping


async def test_as_many_small_notes_get_ready_at_once_as_there_are_slots() -> None:
    turns = ReadyTurns(MIN_READYING + 1)
    entered = asyncio.Event()

    async def next_note() -> None:
        async with turns.turn(1000, "chat"):
            entered.set()

    async with contextlib.AsyncExitStack() as held:
        for _ in range(MIN_READYING + 1):
            await held.enter_async_context(turns.turn(1000, "chat"))
        waiting = asyncio.create_task(next_note())
        await asyncio.sleep(0)  # the task runs up to its first wait
        assert not entered.is_set()
    await waiting  # the turns ended: the next note's begins
    assert entered.is_set()


async def test_with_few_slots_there_are_still_a_few_turns() -> None:
    turns = ReadyTurns(1)
    async with contextlib.AsyncExitStack() as held, asyncio.timeout(5):
        # A stalled download among them does not hold the others back.
        for _ in range(MIN_READYING):
            await held.enter_async_context(turns.turn(1000, "chat"))


async def test_another_chats_note_gets_the_next_turn_before_a_flooding_chats() -> None:
    turns = ReadyTurns(MIN_READYING)
    order: list[str] = []

    async def note(chat: str) -> None:
        async with turns.turn(1000, chat):
            order.append(chat)

    async with contextlib.AsyncExitStack() as held:
        for _ in range(MIN_READYING):
            await held.enter_async_context(turns.turn(1000, "group"))
        flood = asyncio.create_task(note("group"))
        await asyncio.sleep(0)
        private = asyncio.create_task(note("private"))
        await asyncio.sleep(0)
    await asyncio.gather(flood, private)
    # The group held every turn: the private chat's note, though it came later, goes first.
    assert order == ["private", "group"]


async def test_a_big_file_or_one_of_unknown_size_takes_no_turn() -> None:
    turns = ReadyTurns(1)
    async with contextlib.AsyncExitStack() as held:
        for _ in range(MIN_READYING):
            await held.enter_async_context(turns.turn(1000, "chat"))
        # Both would wait for a small note's turn to end if they took one.
        async with asyncio.timeout(5):
            async with turns.turn(READY_BYTES + 1, "chat"), turns.turn(None, "chat"):
                pass


async def test_at_a_stop_a_note_waiting_for_its_turn_goes_back_to_the_queue() -> None:
    turns = ReadyTurns(1)
    async with contextlib.AsyncExitStack() as held:
        for _ in range(MIN_READYING):
            await held.enter_async_context(turns.turn(1000, "chat"))
        waiting = asyncio.create_task(turns.turn(1000, "chat").__aenter__())
        await asyncio.sleep(0)

        turns.close()

        with pytest.raises(Stopping):
            await waiting
    with pytest.raises(Stopping):
        await turns.turn(1000, "chat").__aenter__()
