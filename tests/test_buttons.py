"""Button data counts only on the message it was put on: a client may send any callback data
with a press on any of the bot's messages, and such a press changes and sends nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import answer_to, transcript_parts

GROUP = -100900
SRT, TXT = "🎬 Subtitles (.srt)", "📄 Text (.txt)"
AFTER_ANSWER = 0.5
"""Seconds to wait after a press is answered for anything else it might set off."""


def buttons(message: BotMessage) -> dict[str, str]:
    """Label → callback data of a message's inline buttons."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def transcript(tg: FakeTelegram, chat_id: int, message_id: int) -> BotMessage | None:
    """A group's auto-mode transcript of a note, once it carries its buttons."""
    replies = tg.replies_to(chat_id, message_id)
    return replies[0] if replies and replies[0].reply_markup else None


def seen(message: BotMessage) -> tuple[Any, ...]:
    """What the chat shows of a message: text, buttons, edits."""
    return message.text, message.html, message.reply_markup, message.edits


async def test_data_not_put_on_a_message_changes_and_sends_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    ann, ben, mal = tg.user(3000, "Ann"), tg.user(3001, "Ben"), tg.user(3002, "Mal")
    data, _, total = media.voice_note(2)
    async with run_bot():
        # Ann's note from before Mal joined, then Ben's.
        early = tg.send_voice(group, ann, data, duration=round(total))
        ann_t = await tg.wait_for(lambda: transcript(tg, GROUP, early["message_id"]))
        note = tg.send_voice(group, ben, data, duration=round(total))
        ben_t = await tg.wait_for(lambda: transcript(tg, GROUP, note["message_id"]))
        cmd = tg.send_text(group, mal, "/forgetme")
        question = await tg.wait_for(lambda: answer_to(tg, GROUP, cmd["message_id"]))
        await tg.wait_for(lambda: question.reply_markup)
        cancel = buttons(question)["Cancel"]

        forgeries = [
            (ben_t, f"forget:no:{mal['id']}"),  # the old /forgetme data, made up
            (ben_t, cancel),  # a real Cancel button, sent on a transcript
            (ben_t, "srt:1"),  # a transcript by its sequential id, made up
            (ben_t, buttons(ann_t)[SRT]),  # Ann's real .srt button, sent on Ben's transcript
            (ben_t, buttons(ann_t)[TXT]),
            (question, buttons(ben_t)[TXT]),  # a transcript's button on the question
        ]
        for target, forged in forgeries:
            before = seen(target), len(tg.bot_messages(GROUP)), len(tg.calls("sendDocument"))
            query = tg.press(GROUP, target.message_id, mal, forged, forged=True)
            await tg.wait_for(lambda q=query: q in tg.callback_answers)
            await asyncio.sleep(AFTER_ANSWER)
            after = seen(target), len(tg.bot_messages(GROUP)), len(tg.calls("sendDocument"))
            assert after == before, forged
            assert tg.callback_answers[query].get("text") is None, forged

        # Anyone who sees a transcript may use its buttons.
        query = tg.press(GROUP, ben_t.message_id, mal, buttons(ben_t)[TXT])
        (sent,) = await tg.wait_for(
            lambda: [m for m in tg.replies_to(GROUP, ben_t.message_id) if m.document]
        )
    assert tg.callback_answers[query].get("text") is None
    assert sent.document is not None and sent.document[0].endswith(".txt")
    assert question.text is not None and question.text.startswith("This deletes")
    assert len(mistral.transcriptions) == 2


async def test_the_buttons_under_the_last_part_of_a_long_transcript_work(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Twelve segments of ~520 characters: two messages, the second replying to the first.
    mistral.vocabulary = [f"№{k} " + "word and deed, " * 37 for k in range(100)]
    words, total = media.script(12, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    kit = tg.user(3100, "Kit")
    chat = tg.private_chat(kit)
    async with run_bot():
        note = tg.send_voice(chat, kit, data, duration=round(total))
        first, last = await tg.wait_for(
            lambda: (
                parts
                if (parts := transcript_parts(tg, chat["id"], note["message_id"]))
                and len(parts) == 2
                and parts[1].reply_markup
                else None
            )
        )
        assert last.reply_to_message_id == first.message_id
        query = tg.press(chat["id"], last.message_id, kit, buttons(last)[SRT])
        (sent,) = await tg.wait_for(
            lambda: [m for m in tg.replies_to(chat["id"], last.message_id) if m.document]
        )
        # The same data sent on the first part is not its own: nothing.
        before = len(tg.bot_messages(chat["id"]))
        forged = tg.press(chat["id"], first.message_id, kit, buttons(last)[SRT], forged=True)
        await tg.wait_for(lambda: forged in tg.callback_answers)
        await asyncio.sleep(AFTER_ANSWER)
    assert len(tg.bot_messages(chat["id"])) == before
    assert tg.callback_answers[query].get("text") is None
    assert sent.document is not None and sent.document[0].endswith(".srt")
    assert first.reply_markup is None
