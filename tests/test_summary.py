"""Summary and Translate under a retained transcript: Mistral's chat model, in the presser's
language, SUMMARIES_PER_DAY per user and UTC day, failures not counted, nothing in the logs."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from typing import Any

import pytest

from storage import digests, forget
from tests import media
from tests.conftest import ADMIN_ID, FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import Db, transcript_of, transcript_parts
from tests.postgres import both_backends

GROUP = -100700
SUMMARY, TRANSLATE = "📝 Summary", "🌐 Translate"
SUMMARY_DE, TRANSLATE_DE = "📝 Zusammenfassung", "🌐 Übersetzen"
AFTER_ANSWER = 0.5
"""Seconds to wait after a press is answered for anything else it might set off."""


def buttons(message: BotMessage) -> dict[str, str]:
    """Label → callback data of a message's inline buttons."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def system(call: Any) -> str:
    return " ".join(m["content"] for m in call.messages if m["role"] == "system")


def material(call: Any) -> str:
    return next(m["content"] for m in call.messages if m["role"] == "user")


async def press(
    tg: FakeTelegram, chat_id: int, message: BotMessage, user: dict[str, Any], data: str
) -> tuple[str, list[BotMessage]]:
    """Tap a button; its answer's text and the bot's messages sent after it (once any are)."""
    before = len(tg.bot_messages(chat_id))
    query = tg.press(chat_id, message.message_id, user, data)
    await tg.wait_for(lambda: query in tg.callback_answers)
    answer = str(tg.callback_answers[query].get("text") or "")
    if answer:
        return answer, []
    return answer, await tg.wait_for(lambda: tg.bot_messages(chat_id)[before:])


async def test_summary_in_private_in_the_pressers_language_with_the_chat_model(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for ours in ("bot", "handlers", "storage"):
        caplog.set_level(logging.DEBUG, logger=ours)
    data, words, total = media.voice_note(4)
    uta = tg.user(4100, "Uta", language_code="de")
    chat = tg.private_chat(uta)
    async with run_bot(MISTRAL_CHAT_MODEL="mistral-medium-latest"):
        note = tg.send_voice(chat, uta, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert set(buttons(reply)) >= {SUMMARY_DE, TRANSLATE_DE}
        answer, (summary,) = await press(tg, chat["id"], reply, uta, buttons(reply)[SUMMARY_DE])
    (call,) = mistral.chats
    spoken = [mistral.vocabulary[w.index] for w in words]
    assert answer == ""
    assert call.model == "mistral-medium-latest"
    assert "German" in system(call)
    assert all(word in material(call) for word in spoken)
    assert summary.reply_to_message_id == reply.message_id
    assert summary.text is not None
    assert summary.text.splitlines() == [SUMMARY_DE, call.content]
    assert call.content is not None and call.content.startswith("SUMMARY(")
    logged = caplog.text
    assert call.content not in logged
    assert not any(word in logged for word in spoken if len(word) > 3)


async def test_translation_in_a_group_keeps_the_times_and_replies_to_the_note(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    ann = tg.user(4200, "Ann", language_code="en")
    uta = tg.user(4201, "Uta", language_code="de-AT")
    data, _, total = media.voice_note(4)
    async with run_bot():
        note = tg.send_voice(group, ann, data, duration=round(total))
        (reply,) = await tg.wait_for(
            lambda: (r := tg.replies_to(GROUP, note["message_id"])) and r[0].reply_markup and r
        )
        assert reply.text is not None
        original = reply.text.splitlines()
        # Ann's own language is the transcript's: said so, nothing asked of Mistral.
        same, _ = await press(tg, GROUP, reply, ann, buttons(reply)[TRANSLATE])
        assert not mistral.chats
        _, (translation,) = await press(tg, GROUP, reply, uta, buttons(reply)[TRANSLATE])
    (call,) = mistral.chats
    assert same == "This transcript is already in English."
    assert "into German" in system(call)
    assert material(call).splitlines() == original
    assert translation.reply_to_message_id == note["message_id"]
    assert translation.text is not None
    title, *lines = translation.text.splitlines()
    assert title == "Übersetzung: Deutsch"
    assert len(lines) == len(original)
    for mine, theirs in zip(lines, original, strict=True):
        stamp, text = theirs.split(" ", 1)
        assert mine == f"{stamp} [de] {text}"


async def test_the_daily_limit_refuses_with_the_reset_time_and_spares_admins(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    ben = tg.user(4300, "Ben")
    boss = tg.user(ADMIN_ID, "Boss")
    async with run_bot(SUMMARIES_PER_DAY=2):
        got: dict[str, list[str]] = {}
        for user in (ben, boss):
            chat = tg.private_chat(user)
            note = tg.send_voice(chat, user, data, duration=round(total))
            (reply,) = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            answers = got.setdefault(user["first_name"], [])
            for label in (SUMMARY, TRANSLATE, SUMMARY, SUMMARY):
                answers.append((await press(tg, chat["id"], reply, user, buttons(reply)[label]))[0])
    # Ben's translation is "already in English" (free); two summaries, the third refused.
    assert got["Ben"][:3] == ["", "This transcript is already in English.", ""]
    assert re.fullmatch(
        r"You have used today's 2 summaries and translations\. More from 00:00 UTC, in .+\.",
        got["Ben"][3],
    )
    assert got["Boss"] == ["", "This transcript is already in English.", "", ""]
    assert len(mistral.chats) == 2 + 3


async def test_a_mistral_failure_is_answered_and_not_counted(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    cal = tg.user(4400, "Cal", language_code="es")
    chat = tg.private_chat(cal)
    async with run_bot(SUMMARIES_PER_DAY=1):
        note = tg.send_voice(chat, cal, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        mistral.fail_chats(503, times=4)  # every attempt of the first press
        _, (failure,) = await press(tg, chat["id"], reply, cal, buttons(reply)["📝 Resumen"])
        mistral.fail_chats(400, times=1)
        _, (refused,) = await press(tg, chat["id"], reply, cal, buttons(reply)["📝 Resumen"])
        _, (summary,) = await press(tg, chat["id"], reply, cal, buttons(reply)["📝 Resumen"])
    assert failure.text == refused.text
    assert failure.text is not None and failure.text.startswith("Los resúmenes")
    assert summary.text is not None and summary.text.startswith("📝 Resumen\nSUMMARY(")
    assert "Spanish" in system(mistral.chats[-1])
    assert [c.status for c in mistral.chats] == [503, 503, 503, 503, 400, 200]


async def test_no_buttons_without_retention(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    dan = tg.user(4500, "Dan")
    chat = tg.private_chat(dan)
    replies = []
    for hours in (1, 0):
        async with run_bot(TRANSCRIPT_RETENTION_HOURS=hours):
            note = tg.send_voice(chat, dan, data, duration=round(total))
            (reply,) = await tg.wait_for(
                lambda n=note: transcript_of(tg, chat["id"], n["message_id"])
            )
            replies.append(reply)
    kept, not_kept = replies
    assert set(buttons(kept)) >= {SUMMARY, TRANSLATE}
    assert not_kept.reply_markup is None


async def test_forged_button_data_does_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    ann, mal = tg.user(4600, "Ann"), tg.user(4601, "Mal", language_code="de")
    data, _, total = media.voice_note(2)
    async with run_bot():
        transcripts = []
        for _ in range(2):
            note = tg.send_voice(group, ann, data, duration=round(total))
            (reply,) = await tg.wait_for(
                lambda n=note: (
                    (r := tg.replies_to(GROUP, n["message_id"])) and r[0].reply_markup and r
                )
            )
            transcripts.append(reply)
        first, second = transcripts
        real = buttons(first)[SUMMARY]
        mac = real.rsplit(":", 1)[1]
        forgeries = [
            buttons(first)[SUMMARY],  # a real button, sent on another transcript
            buttons(first)[TRANSLATE],
            real.replace("sum:", "tr:"),  # its MAC under another kind
            f"sum:{int(real.split(':')[1]) + 1}:{mac}",  # under another transcript
            "sum:1:" + "A" * 22,
        ]
        before = len(tg.bot_messages(GROUP))
        for forged in forgeries:
            query = tg.press(GROUP, second.message_id, mal, forged, forged=True)
            await tg.wait_for(lambda q=query: q in tg.callback_answers)
            assert tg.callback_answers[query].get("text") is None, forged
        await asyncio.sleep(AFTER_ANSWER)
        assert len(tg.bot_messages(GROUP)) == before
    assert not mistral.chats


async def test_a_long_transcript_is_summarized_in_parts_then_as_a_whole(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Twelve segments of ~520 characters, sent in parts of at most 1500.
    mistral.vocabulary = [f"№{k} " + "word and deed, " * 37 for k in range(100)]
    words, total = media.script(12, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    kit = tg.user(4700, "Kit")
    chat = tg.private_chat(kit)
    async with run_bot(tuning=replace(FAST, digest_budget=1500)):
        note = tg.send_voice(chat, kit, data, duration=round(total))
        *_, last = await tg.wait_for(
            lambda: (
                parts
                if (parts := transcript_parts(tg, chat["id"], note["message_id"]))
                and parts[-1].reply_markup
                else None
            )
        )
        _, (summary,) = await press(tg, chat["id"], last, kit, buttons(last)[SUMMARY])
    *pieces, whole = mistral.chats
    assert len(pieces) == 6  # two lines of ~525 characters per part
    sent = "\n".join(material(c) for c in pieces)
    assert all(f"№{w.index} " in sent for w in words)
    assert all(len(material(c)) <= 1500 for c in pieces)
    assert "consecutive parts" in system(whole)
    assert material(whole).split("\n\n") == [c.content for c in pieces]
    assert summary.text == f"{SUMMARY}\n{whole.content}"


async def test_a_long_translation_comes_as_a_preview_and_a_txt_replying_to_the_note(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Thirty segments of ~520 characters: more than three messages once translated.
    mistral.vocabulary = [f"№{k} " + "word and deed, " * 37 for k in range(100)]
    words, total = media.script(30, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    ida = tg.user(4900, "Ida", language_code="ru")
    chat = tg.private_chat(ida)
    async with run_bot():
        note = tg.send_voice(chat, ida, data, duration=round(total))
        # The transcript: a preview with the buttons, and the whole as .txt.
        last, _ = await tg.wait_for(
            lambda: (sent := tg.bot_messages(chat["id"])) and len(sent) == 2 and sent
        )
        before = len(tg.bot_messages(chat["id"]))
        query = tg.press(chat["id"], last.message_id, ida, buttons(last)["🌐 Перевести"])
        preview, document = await tg.wait_for(
            lambda: (sent := tg.bot_messages(chat["id"])[before:]) and len(sent) == 2 and sent
        )
    assert query in tg.callback_answers
    assert {preview.reply_to_message_id, document.reply_to_message_id} == {note["message_id"]}
    assert preview.text is not None and preview.text.startswith("Перевод: русский\n0:00 [ru] №")
    assert document.document is not None
    name, content = document.document
    assert name.endswith(".ru.txt")
    title, *lines = content.decode().splitlines()
    assert title == "Перевод: русский"
    assert len(lines) == 30
    assert all(
        re.fullmatch(r"\d+:\d\d \[ru\] №\d+ (word and deed, )*word and deed,", line)
        for line in lines
    )
    assert len(mistral.chats) == 1 and "into Russian" in system(mistral.chats[0])


@both_backends
async def test_concurrent_presses_on_two_replicas_never_pass_the_limit(database: Db) -> None:
    first, second = database.open(), database.open()
    await first.open()
    await second.open()
    try:
        day, user = "2026-11-25", 4800
        held = await asyncio.gather(
            *(digests.hold(db, user, day, 5) for db in (first, second) for _ in range(10))
        )
        assert held.count(True) == 5
        await digests.give_back(first, user, day)
        await digests.count(second, user, day)
        assert await digests.used(first, user, day) == (1, 3)
        assert await digests.hold(second, user, day, 5)
        assert not await digests.hold(first, user, day, 5)
        # /forgetme keeps no id of theirs and does not hand out a fresh day.
        await forget.forget_user(first, user, "2026-11")
        assert not await digests.hold(second, user, day, 5)
        assert await digests.hold(first, user, "2026-11-26", 5)
        assert await digests.purge(first, "2026-11-26") == 1
        assert await digests.used(second, user, day) == (0, 0)
    finally:
        await first.close()
        await second.close()
