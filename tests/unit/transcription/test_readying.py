"""Transcriber.readying: small notes get ready for Mistral a slot's worth at a time."""

from __future__ import annotations

import asyncio
from typing import cast

from bot.settings import UploadMode
from bot.transcription.mistral import MistralClient
from bot.transcription.transcriber import READY_BYTES, Transcriber


def transcriber(limit: int) -> Transcriber:
    return Transcriber(cast(MistralClient, object()), mode=UploadMode.FILES, limit=limit)


async def test_at_most_as_many_small_notes_get_ready_at_once_as_there_are_slots() -> None:
    slots = transcriber(limit=2)
    entered = asyncio.Event()

    async def third() -> None:
        async with slots.readying(1000):
            entered.set()

    async with slots.readying(1000):
        async with slots.readying(1000):
            waiting = asyncio.create_task(third())
            await asyncio.sleep(0)  # the task runs up to its first wait
            assert not entered.is_set()
        await waiting  # one turn ended: the third note's begins
    assert entered.is_set()


async def test_a_big_file_or_one_of_unknown_size_takes_no_turn() -> None:
    slots = transcriber(limit=1)
    async with slots.readying(1000):
        # Both would wait for the small note's turn to end if they took one.
        async with asyncio.timeout(5):
            async with slots.readying(READY_BYTES + 1), slots.readying(None):
                pass
