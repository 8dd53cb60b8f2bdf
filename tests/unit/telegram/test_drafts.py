"""LiveDraft against an in-process bot: which drafts a private chat sees, in which order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from telegram import Bot

from bot.domain.transcript import Segment, Transcript
from bot.telegram.drafts import LiveDraft
from tests.unit.telegram.test_delivery import job


class DraftBot:
    """Records the text of each sendMessageDraft."""

    def __init__(self) -> None:
        self.drafts: list[str] = []
        self.sent = asyncio.Event()

    async def send_message_draft(self, chat_id: int, draft_id: int, text: str, **_: Any) -> bool:
        self.drafts.append(text)
        self.sent.set()
        return True


def lines(*texts: str) -> Transcript:
    return Transcript(
        segments=tuple(Segment(start=float(n), end=n + 1.0, text=t) for n, t in enumerate(texts))
    )


async def test_the_placeholder_follows_after_a_moment() -> None:
    bot = DraftBot()
    draft = LiveDraft(cast(Bot, bot), job(status_message_id=None), placeholder_after=0.0)
    await bot.sent.wait()
    draft.close()
    assert bot.drafts == [""]


async def test_lines_that_come_before_the_placeholder_replace_it() -> None:
    bot = DraftBot()
    # The placeholder would wait far longer than the test: the lines must go first.
    draft = LiveDraft(cast(Bot, bot), job(status_message_id=None), placeholder_after=3600)
    draft.show(lines("Hello there"))
    await bot.sent.wait()
    draft.close()
    assert len(bot.drafts) == 1 and "Hello there" in bot.drafts[0]


async def test_closed_before_the_placeholder_no_draft_is_sent() -> None:
    bot = DraftBot()
    draft = LiveDraft(cast(Bot, bot), job(status_message_id=None), placeholder_after=3600)
    await asyncio.sleep(0)  # the draft task starts and waits
    draft.close()
    await asyncio.sleep(0)
    assert bot.drafts == []
