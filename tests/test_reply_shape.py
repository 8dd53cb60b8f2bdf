"""What users get back: nothing heard, long transcripts as files, SRT/TXT buttons."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import srt

from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import (
    Clock,
    answer_to,
    database_bytes,
    expected_lines,
    job_statuses,
    transcript_of,
    usage_row,
)


async def test_silence_or_only_punctuation_is_no_speech_and_costs_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    silence = media.encode(media.speech([], 3.0), "ogg")
    # A tone word Mistral "hears" as punctuation and spaces only: nothing was said either.
    mistral.vocabulary[7] = " … ?! "
    words, total = media.script(1, first_index=7)
    mumble = media.encode(media.speech(words, total), "ogg")
    lea = tg.user(1700, "Lea")
    chat = tg.private_chat(lea)
    async with run_bot():
        for data, seconds in ((silence, 3), (mumble, round(total))):
            note = tg.send_voice(chat, lea, data, duration=seconds)
            (reply,) = await tg.wait_for(
                lambda n=note: transcript_of(tg, chat["id"], n["message_id"])
            )
            assert reply.text == "🔇 No speech detected."
        cmd = tg.send_text(chat, lea, "/usage")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
    # Mistral really answered both (and billed them): the bot chose not to charge.
    assert [c.status for c in mistral.transcriptions] == [200, 200]
    assert all(c.billed_seconds > 0 for c in mistral.transcriptions)
    assert usage_row(db_path, lea["id"]) == (0, 0)
    assert (answer.text or "").startswith("You used 0 s")
    assert job_statuses(db_path) == ["done", "done"]


async def test_a_20000_character_transcript_is_a_preview_and_a_txt_file(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Forty segments of ~520 characters (Cyrillic, HTML specials): over 20,000 characters.
    mistral.vocabulary = [f"№{k} <абзац> & " + "слово и дело, " * 36 for k in range(100)]
    words, total = media.script(40, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    expected = expected_lines(words, mistral.vocabulary)
    whole = "".join(f"{line.strip()}\n" for line in expected)
    assert len(whole) > 20_000
    vic = tg.user(1900, "Vic")
    chat = tg.private_chat(vic)
    async with run_bot():
        note = tg.send_voice(chat, vic, data, duration=round(total))
        first = (await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"])))[0]
        (document,) = await tg.wait_for(
            lambda: [m for m in tg.replies_to(chat["id"], first.message_id) if m.document]
        )
    texts = [m for m in tg.bot_messages(chat["id"]) if m.text and not m.document]
    assert 1 <= len(texts) <= 3
    # The preview is the start of the transcript, whole lines but maybe the last, then a pointer.
    shown = [line for m in texts for line in (m.text or "").splitlines()]
    assert shown[-1] == "… The whole transcript is in the file below."
    assert shown[:-2] == [line.strip() for line in expected[: len(shown) - 2]]
    assert expected[len(shown) - 2].strip().startswith(shown[-2])
    assert all(len(m.text or "") <= 4096 for m in texts)
    assert document.document is not None
    name, content = document.document
    assert name.endswith(".txt")
    assert content.decode() == whole


def buttons(message: BotMessage) -> dict[str, str]:
    """Label → callback data of a message's inline buttons."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def test_srt_and_txt_buttons_while_retained_then_expired(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    clock = Clock()
    data, words, total = media.voice_note(4)
    wes = tg.user(1950, "Wes")
    chat = tg.private_chat(wes)

    async def press(message: BotMessage, label: str) -> tuple[str, BotMessage | None]:
        """Tap a button; return the answer's text and the file sent, if any."""
        before = len(tg.bot_messages(chat["id"]))
        query = tg.press(chat["id"], message.message_id, wes, buttons(message)[label])
        await tg.wait_for(lambda: query in tg.callback_answers)
        answer = str(tg.callback_answers[query].get("text") or "")
        if answer:
            return answer, None
        sent = await tg.wait_for(lambda: tg.bot_messages(chat["id"])[before:])
        return answer, sent[0]

    async with run_bot(tuning=replace(FAST, clock=clock), TRANSCRIPT_RETENTION_HOURS=2):
        note = tg.send_voice(chat, wes, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert set(buttons(reply)) == {
            "🎬 Subtitles (.srt)",
            "📄 Text (.txt)",
            "📝 Summary",
            "🌐 Translate",
        }
        # Retained: the words are in the database file.
        assert mistral.vocabulary[words[0].index].encode() in database_bytes(db_path)

        _, srt_file = await press(reply, "🎬 Subtitles (.srt)")
        _, txt_file = await press(reply, "📄 Text (.txt)")

        clock.advance(2 * 3600 - 5)  # still retained
        _, again = await press(reply, "📄 Text (.txt)")
        assert again is not None

        clock.advance(10)  # retention over
        expired, nothing = await press(reply, "🎬 Subtitles (.srt)")
        await tg.wait_for(lambda: not buttons(reply))  # the dead buttons are taken away

    # The SRT parses back into Mistral's segments, with their times.
    assert srt_file is not None and srt_file.document is not None
    name, content = srt_file.document
    assert name.endswith(".srt")
    assert srt_file.reply_to_message_id == reply.message_id
    cues = list(srt.parse(content.decode()))
    (call,) = mistral.transcriptions
    assert call.response is not None
    segments = call.response["segments"]
    assert len(cues) == len(segments) == len(words)
    for cue, seg in zip(cues, segments, strict=True):
        assert cue.content == seg["text"]
        assert cue.start == timedelta(seconds=seg["start"])
        assert cue.end == timedelta(seconds=seg["end"])
    # The TXT holds the lines of the chat message, timestamps included.
    assert txt_file is not None and txt_file.document is not None
    assert txt_file.document[0].endswith(".txt")
    assert txt_file.document[1].decode() == f"{reply.text}\n"
    # Expired: the press is answered so, no file is sent, and the text is gone.
    assert nothing is None
    assert "no longer kept" in expired
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM transcripts").fetchone() == (0,)


async def test_retention_zero_means_no_buttons_and_no_text_in_the_database(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    mistral.vocabulary = [f"Quokka{k:02d}xylophone" for k in range(100)]
    data, _, total = media.voice_note(5)
    yara = tg.user(1960, "Yara")
    chat = tg.private_chat(yara)
    async with run_bot(TRANSCRIPT_RETENTION_HOURS=0):
        note = tg.send_voice(chat, yara, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert reply.reply_markup is None
        assert "Quokka" in (reply.text or "")
        while_running = database_bytes(db_path)
    after_stop = database_bytes(db_path)
    assert b"Quokka" not in while_running
    assert b"Quokka" not in after_stop
    assert "Quokka".encode("utf-16-le") not in while_running + after_stop


async def test_a_button_the_bot_does_not_know_is_still_answered(
    tg: FakeTelegram, run_bot: RunBot
) -> None:
    zed = tg.user(1970, "Zed")
    async with run_bot():
        # The data of a button from some older version of the bot.
        tg.push_update(
            callback_query={"id": "old-1", "from": zed, "chat_instance": "9", "data": "v0:42"}
        )
        await tg.wait_for(lambda: "old-1" in tg.callback_answers)
    assert tg.callback_answers["old-1"].get("text") is None
