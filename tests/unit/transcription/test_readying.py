"""Transcriber.readying: small notes get ready for Mistral a slot's worth at a time, fairly."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from bot.settings import UploadMode
from bot.transcription.mistral import MistralClient
from bot.transcription.transcriber import MIN_READYING, READY_BYTES, Transcriber


def transcriber(limit: int) -> Transcriber:
    return Transcriber(cast(MistralClient, object()), mode=UploadMode.FILES, limit=limit)


async def test_as_many_small_notes_get_ready_at_once_as_there_are_slots() -> None:
    slots = transcriber(limit=MIN_READYING + 1)
    entered = asyncio.Event()

    async def next_note() -> None:
        async with slots.readying(1000, "chat"):
            entered.set()

    async with contextlib.AsyncExitStack() as turns:
        for _ in range(MIN_READYING + 1):
            await turns.enter_async_context(slots.readying(1000, "chat"))
        waiting = asyncio.create_task(next_note())
        await asyncio.sleep(0)  # the task runs up to its first wait
        assert not entered.is_set()
    await waiting  # the turns ended: the next note's begins
    assert entered.is_set()


async def test_with_few_slots_there_are_still_a_few_turns() -> None:
    slots = transcriber(limit=1)
    async with contextlib.AsyncExitStack() as turns, asyncio.timeout(5):
        # A stalled download among them does not hold the others back.
        for _ in range(MIN_READYING):
            await turns.enter_async_context(slots.readying(1000, "chat"))


async def test_another_chats_note_gets_the_next_turn_before_a_flooding_chats() -> None:
    slots = transcriber(limit=MIN_READYING)
    order: list[str] = []

    async def note(chat: str) -> None:
        async with slots.readying(1000, chat):
            order.append(chat)

    async with contextlib.AsyncExitStack() as turns:
        for _ in range(MIN_READYING):
            await turns.enter_async_context(slots.readying(1000, "group"))
        flood = asyncio.create_task(note("group"))
        await asyncio.sleep(0)
        private = asyncio.create_task(note("private"))
        await asyncio.sleep(0)
    await asyncio.gather(flood, private)
    # The group held every turn: the private chat's note, though it came later, goes first.
    assert order == ["private", "group"]


async def test_a_big_file_or_one_of_unknown_size_takes_no_turn() -> None:
    slots = transcriber(limit=1)
    async with contextlib.AsyncExitStack() as turns:
        for _ in range(MIN_READYING):
            await turns.enter_async_context(slots.readying(1000, "chat"))
        # Both would wait for a small note's turn to end if they took one.
        async with asyncio.timeout(5):
            async with slots.readying(READY_BYTES + 1, "chat"), slots.readying(None, "chat"):
                pass
