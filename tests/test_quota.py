"""Concurrency and quotas."""

from __future__ import annotations

import asyncio

from bot.app import WORKERS_PER_SLOT
from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, answer_to, expected_lines, transcript_of, usage_row
from tests.postgres import both_backends

pytestmark = both_backends


async def test_eight_users_are_transcribed_at_once(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    mistral.latency = 1.5
    async with run_bot():
        notes = []
        for n in range(8):
            user = tg.user(100 + n, f"User{n}")
            chat = tg.private_chat(user)
            notes.append((chat, tg.send_voice(chat, user, data, duration=round(total))))
        await mistral.wait_for(lambda: mistral.max_in_flight == 8)
        for chat, note in notes:
            await tg.wait_for(lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"]))
    assert len(mistral.transcriptions) == 8


async def test_concurrency_is_bounded_by_the_setting(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    mistral.latency = 0.3
    async with run_bot(MAX_CONCURRENT_TRANSCRIPTIONS=2):
        notes = []
        for n in range(8):
            user = tg.user(200 + n, f"User{n}")
            chat = tg.private_chat(user)
            notes.append((chat, tg.send_voice(chat, user, data, duration=round(total))))
        for chat, note in notes:
            await tg.wait_for(lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"]))
    assert len(mistral.transcriptions) == 8
    assert mistral.max_in_flight == 2


async def test_quota_for_three_notes_lets_exactly_three_through(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    # Each note is 3.3 s, declared by Telegram as 4 s and billed 4 s: a 12 s quota fits three.
    data, _, total = media.voice_note(3)
    declared = 4
    assert 3 < total <= declared
    erin = tg.user(300, "Erin")
    chat = tg.private_chat(erin)
    mistral.latency = 0.2
    async with run_bot(DEFAULT_QUOTA_SECONDS=3 * declared):
        notes = [tg.send_voice(chat, erin, data, duration=declared) for _ in range(10)]

        def outcomes() -> list[str] | None:
            texts = []
            for note in notes:
                replies = tg.replies_to(chat["id"], note["message_id"])
                if not replies:
                    return None
                text = replies[0].text or ""
                if text.startswith("🎧"):
                    return None
                texts.append(text)
            return texts

        answers = await tg.wait_for(outcomes)
    transcribed = [a for a in answers if a.startswith("0:00")]
    refused = [a for a in answers if a.startswith("Not enough quota")]
    assert len(transcribed) == 3
    assert len(refused) == 7
    assert all("0 s" in a and "resets on" in a for a in refused)
    assert len(mistral.transcriptions) == 3
    billed = sum(c.billed_seconds for c in mistral.transcriptions)
    assert usage_row(database, erin["id"]) == (billed, 0)


async def test_quota_and_usage_survive_a_restart(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    fay = tg.user(400, "Fay")
    chat = tg.private_chat(fay)
    async with run_bot():
        cmd = tg.send_text(admin_chat, admin, "/setquota 400 900")
        await tg.wait_for(lambda: answer_to(tg, admin_chat["id"], cmd["message_id"]))
        note = tg.send_voice(chat, fay, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    billed = mistral.transcriptions[0].billed_seconds
    await asyncio.sleep(0)  # let the first bot's connections close before the second starts
    async with run_bot():
        cmd = tg.send_text(chat, fay, "/usage")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
    text = answer.text or ""
    assert f"You used {billed} s" in text
    assert "Quota: 900 s" in text
    assert f"{900 - billed} s" in text


async def test_notes_waiting_for_telegram_to_take_their_reply_do_not_hold_workers(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(2)
    users = [tg.user(700 + n, f"W{n}") for n in range(3 * WORKERS_PER_SLOT)]
    chats = [tg.private_chat(u) for u in users]
    tg.hold("editMessageText")  # Telegram takes no transcript for now
    async with run_bot(MAX_CONCURRENT_TRANSCRIPTIONS=1):
        notes = [
            tg.send_voice(c, u, data, duration=round(total))
            for c, u in zip(chats, users, strict=True)
        ]
        # Three times as many notes as workers are all transcribed meanwhile.
        await mistral.wait_for(
            lambda: sum(c.status == 200 for c in mistral.transcriptions) == len(notes)
        )
        tg.release("editMessageText")
        for chat, note in zip(chats, notes, strict=True):
            replies = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
