"""The same recording once: a kept transcript answers every later copy of the note, for free."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.i18n import texts
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Clock, Db, answer_to, expected_lines, usage_row
from tests.postgres import both_backends
from tests.test_forgetme import forget
from tests.test_private import mistral_billed

pytestmark = both_backends

Message = dict[str, Any]


def forward(tg: FakeTelegram, chat: Message, sender: Message, note: Message) -> Message:
    """`sender` forwards `note` (the same file, so the same file_unique_id) into `chat`."""
    origin = {"type": "user", "date": note["date"], "sender_user": note["from"]}
    message = tg.new_message(chat, sender, voice=note["voice"], forward_origin=origin)
    tg.push_update(message=message)
    return message


async def lines_of(tg: FakeTelegram, message: Message) -> list[str]:
    """The transcript lines the bot answered `message` with (a header line excepted)."""
    chat_id, message_id = message["chat"]["id"], message["message_id"]

    def done() -> str | None:
        replies = tg.replies_to(chat_id, message_id)
        text = replies[0].text or "" if replies else ""
        return None if not text or text.startswith(texts.STATUS) else text

    lines = (await tg.wait_for(done)).splitlines()
    return [line for line in lines if not line.startswith("Forwarded from")]


async def test_a_recording_forwarded_to_another_user_is_answered_from_the_kept_transcript(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = media.voice_note(3)
    anna, ben = tg.user(21, "Anna"), tg.user(22, "Ben")
    anna_chat, ben_chat = tg.private_chat(anna), tg.private_chat(ben)
    async with run_bot():
        note = tg.send_voice(anna_chat, anna, data, duration=round(total))
        expected = expected_lines(words, mistral.vocabulary)
        assert await lines_of(tg, note) == expected
        copy = forward(tg, ben_chat, ben, note)
        assert await lines_of(tg, copy) == expected
        # A forward of the forward, in a group's auto mode, is answered the same way.
        group = tg.group_chat(-100777, "Friends")
        posted = forward(tg, group, anna, note)
        assert await lines_of(tg, posted) == expected
    assert len(mistral.transcriptions) == 1
    assert len(tg.downloads) == 1
    assert usage_row(database, 21)[0] == mistral_billed(mistral) > 0
    assert usage_row(database, 22) == (0, 0)


async def test_reuse_needs_the_same_pinned_language(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _, total = media.voice_note(3)
    anna, ben = tg.user(31, "Anna"), tg.user(32, "Ben")
    anna_chat, ben_chat = tg.private_chat(anna), tg.private_chat(ben)
    async with run_bot():
        note = tg.send_voice(anna_chat, anna, data, duration=round(total))
        await lines_of(tg, note)
        pin = tg.send_text(ben_chat, ben, "/language de")
        await tg.wait_for(lambda: answer_to(tg, ben_chat["id"], pin["message_id"]))
        await lines_of(tg, forward(tg, ben_chat, ben, note))
        # Anna's own copy, auto-detected again, is reused.
        await lines_of(tg, forward(tg, anna_chat, anna, note))
    assert len(mistral.transcriptions) == 2
    assert mistral.transcriptions[1].fields.get("language") == ["de"]
    assert usage_row(database, 32)[0] > 0


async def test_once_retention_ends_the_recording_is_transcribed_anew(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    anna, ben, carl = tg.user(41, "Anna"), tg.user(42, "Ben"), tg.user(43, "Carl")
    chats = {u["id"]: tg.private_chat(u) for u in (anna, ben, carl)}
    clock = Clock()
    async with run_bot(dataclasses.replace(FAST, clock=clock), TRANSCRIPT_RETENTION_HOURS=1):
        note = tg.send_voice(chats[41], anna, data, duration=round(total))
        await lines_of(tg, note)
        clock.advance(3000)
        await lines_of(tg, forward(tg, chats[42], ben, note))
        assert len(mistral.transcriptions) == 1
        # Ben's copy was kept an hour from its own making: past it, nothing is left.
        clock.advance(3601)
        await lines_of(tg, forward(tg, chats[43], carl, note))
    assert len(mistral.transcriptions) == 2


async def test_with_retention_zero_nothing_is_kept_so_nothing_is_reused(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    users = [tg.user(51 + n, name) for n, name in enumerate(("Anna", "Ben", "Carl", "Dora"))]
    chats = [tg.private_chat(u) for u in users]
    async with run_bot(TRANSCRIPT_RETENTION_HOURS=0):
        note = tg.send_voice(chats[0], users[0], data, duration=round(total))
        await lines_of(tg, note)
        await lines_of(tg, forward(tg, chats[1], users[1], note))
    assert len(mistral.transcriptions) == 2
    # Kept again after a restart with retention: only what is made from then on is reused.
    async with run_bot():
        await lines_of(tg, forward(tg, chats[2], users[2], note))
        await lines_of(tg, forward(tg, chats[3], users[3], note))
    assert len(mistral.transcriptions) == 3


async def test_forgetme_removes_what_ones_notes_left_for_reuse(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _, total = media.voice_note(2)
    anna, ben = tg.user(61, "Anna"), tg.user(62, "Ben")
    anna_chat, ben_chat = tg.private_chat(anna), tg.private_chat(ben)
    async with run_bot():
        note = tg.send_voice(anna_chat, anna, data, duration=round(total))
        await lines_of(tg, note)
        await lines_of(tg, forward(tg, anna_chat, anna, note))
        assert len(mistral.transcriptions) == 1
        await forget(tg, anna, anna_chat)
        await lines_of(tg, forward(tg, ben_chat, ben, note))
    assert len(mistral.transcriptions) == 2
    assert usage_row(database, 62)[0] > 0
