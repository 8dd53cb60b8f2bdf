"""Deletions: uploads deleted in the background, held until their transcript is out."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from bot.transcription import deletions
from bot.transcription.deletions import Deletions
from bot.transcription.mistral import MistralClient


class Mistral:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete(self, file_id: str) -> None:
        self.deleted.append(file_id)


async def test_a_held_delete_goes_once_the_transcript_is_out() -> None:
    mistral, forgotten = Mistral(), list[str]()

    async def forget(file_id: str) -> None:
        forgotten.append(file_id)

    out = asyncio.Event()
    gone = Deletions(cast(MistralClient, mistral))
    gone.later("file-1", forget, out)
    for _ in range(5):
        await asyncio.sleep(0)
    assert mistral.deleted == []
    out.set()
    await gone.drain(within=5)
    assert mistral.deleted == forgotten == ["file-1"]


async def test_a_held_delete_waits_no_longer_than_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deletions, "HOLD_SECONDS", 0.01)
    mistral = Mistral()

    async def forget(file_id: str) -> None:
        return None

    gone = Deletions(cast(MistralClient, mistral))
    gone.later("file-1", forget, asyncio.Event())  # never set
    await gone.drain(within=5)
    assert mistral.deleted == ["file-1"]
