"""Guest Mode: mentioned on a note in a chat it is not in, the bot answers with one inline
message, edited into the transcript; the caller pays."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.i18n import texts
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram, InlineMessage
from tests.helpers import Db, expected_lines, usage_row
from tests.test_private import mistral_billed

Message = dict[str, Any]


def note_in(tg: FakeTelegram, chat: Message, author: Message, data: bytes, total: float) -> Message:
    """A voice note in a chat the bot is not in: stored, never delivered to the bot."""
    stored = tg.add_file(data)
    voice = {**stored, "duration": round(total), "mime_type": "audio/ogg"}
    return tg.new_message(chat, author, voice=voice)


async def settled(tg: FakeTelegram, mention: Message, *, first: str | None = None) -> InlineMessage:
    """The inline message answering `mention`, once it no longer shows the placeholder."""

    def done() -> InlineMessage | None:
        inline = tg.guest_answer(mention)
        if inline is None or inline.text == texts.STATUS:
            return None
        return inline if first is None or inline.text.startswith(first) else None

    return await tg.wait_for(done)


async def test_a_mention_on_a_note_is_answered_in_one_inline_message_paid_by_the_caller(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = media.voice_note(3)
    author, caller = tg.user(71, "Author"), tg.user(72, "Caller")
    chat = {"id": -100555, "type": "supergroup", "title": "Elsewhere"}
    async with run_bot():
        note = note_in(tg, chat, author, data, total)
        mention = tg.send_guest_message(chat, caller, reply_to=note)
        inline = await settled(tg, mention)
    assert inline.history[0] == texts.STATUS
    assert inline.text.splitlines() == expected_lines(words, mistral.vocabulary)
    assert usage_row(database, 72)[0] == mistral_billed(mistral) > 0
    assert usage_row(database, 71) == (0, 0)
    # One inline message, nothing sent into any chat.
    assert tg.calls("sendMessage") == []
    (answer,) = tg.calls("answerGuestQuery")
    assert answer.params["result"]["type"] == "article"


async def test_a_long_transcript_is_cut_with_a_button_giving_it_whole_in_private(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(4)
    # Each word heard becomes some 1500 characters: four lines pass one message's 4096.
    mistral.vocabulary = [" ".join([word] * 250) for word in mistral.vocabulary]
    author, caller = tg.user(73, "Author"), tg.user(74, "Caller")
    chat = {"id": -100556, "type": "supergroup", "title": "Elsewhere"}
    async with run_bot():
        mention = tg.send_guest_message(
            chat, caller, reply_to=note_in(tg, chat, author, data, total)
        )
        inline = await settled(tg, mention)
        assert inline.text.endswith(texts.GUEST_CUT)
        assert inline.reply_markup is not None
        (button,) = inline.reply_markup["inline_keyboard"][0]
        link = urlsplit(button["url"])
        assert link.netloc == "t.me" and link.path == "/voxgram_test_bot"
        (payload,) = parse_qs(link.query)["start"]
        # Someone else opening the link gets the help, not the transcript.
        other = tg.user(75, "Other")
        other_chat = tg.private_chat(other)
        tg.send_text(other_chat, other, f"/start {payload}")
        private = tg.private_chat(caller)
        tg.send_text(private, caller, f"/start {payload}")
        document = await tg.wait_for(
            lambda: next((m for m in tg.bot_messages(private["id"]) if m.document), None)
        )
        other_answer = await tg.wait_for(lambda: tg.bot_messages(other_chat["id"]))
    assert document.document is not None
    lines = document.document[1].decode().splitlines()
    assert len(lines) == len(words)
    assert all(not m.document for m in other_answer)
    assert "Voxgram" in (other_answer[0].text or "")


async def test_an_over_quota_caller_sees_the_reason_in_the_inline_message(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(3)
    author, caller = tg.user(76, "Author"), tg.user(77, "Caller")
    chat = {"id": -100557, "type": "supergroup", "title": "Elsewhere"}
    async with run_bot(DEFAULT_QUOTA_SECONDS=1):
        mention = tg.send_guest_message(
            chat, caller, reply_to=note_in(tg, chat, author, data, total)
        )
        inline = await settled(tg, mention)
    assert "quota" in inline.text.lower() or "left" in inline.text.lower()
    assert mistral.transcriptions == []


async def test_a_mention_without_a_note_gets_the_how_to_and_no_handler_answers_in_the_chat(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    caller = tg.user(78, "Caller")
    # The bot's own private chat with the caller has the same id as this guest chat.
    chat = {"id": 78, "type": "private", "first_name": "Caller"}
    async with run_bot():
        bare = tg.send_guest_message(chat, caller)
        text = tg.new_message(chat, caller, text="hello")
        not_audio = tg.send_guest_message(chat, caller, reply_to=text)
        command = tg.send_guest_message(chat, caller, text="/help @voxgram_test_bot")
        assert (await settled(tg, bare)).text == texts.GUEST_HOWTO
        assert (await settled(tg, not_audio)).text == texts.GUEST_HOWTO
        assert (await settled(tg, command)).text == texts.GUEST_HOWTO
        # A guest message that is itself a voice note: not a note replied to.
        stored = tg.add_file(data)
        voice = {**stored, "duration": round(total), "mime_type": "audio/ogg"}
        message = {
            "message_id": 9999,
            "date": 0,
            "chat": chat,
            "from": caller,
            "voice": voice,
            "guest_query_id": "guest-voice",
        }
        tg._guest_queries.add("guest-voice")
        tg.push_update(guest_message=message)
        await tg.wait_for(lambda: tg.guest_answer(message))
    assert tg.calls("sendMessage") == []
    assert tg.calls("getFile") == []
    assert mistral.transcriptions == []
