"""What a voice leaves behind: nothing readable after retention, /forgetme, or in local mode."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Clock, answer_to, database_bytes, transcript_of

NAME = "Zephyrine"  # the original sender of a forwarded note: a name found nowhere else


def origin(tg: FakeTelegram, user_id: int) -> dict[str, Any]:
    return {
        "type": "user",
        "date": int(time.time()),
        "sender_user": tg.user(user_id, NAME, last_name="Quillfeather"),
    }


def job_rows(db_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT file_id, header, author_id FROM jobs").fetchall()


async def test_the_original_sender_of_a_forwarded_note_can_forget_it(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    mistral.vocabulary = [f"Wombat{k:02d}marmalade" for k in range(100)]
    data, _, total = media.voice_note(3)
    forwarder = tg.user(3100, "Fred")
    speaker = origin(tg, 3101)
    async with run_bot():
        chat = tg.private_chat(forwarder)
        note = tg.send_voice(chat, forwarder, data, duration=round(total), forward_origin=speaker)
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert NAME in (reply.text or "")
        assert NAME.encode() in database_bytes(db_path)

        # The speaker, not the forwarder, asks to be forgotten.
        own = tg.private_chat(speaker["sender_user"])
        ask_cmd = tg.send_text(own, speaker["sender_user"], "/forgetme")
        ask = await tg.wait_for(lambda: answer_to(tg, own["id"], ask_cmd["message_id"]))
        await tg.wait_for(lambda: ask.reply_markup)
        label = "🗑 Yes, delete"
        rows = (ask.reply_markup or {})["inline_keyboard"]
        data_ = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
        query = tg.press(own["id"], ask.message_id, speaker["sender_user"], data_)
        await tg.wait_for(lambda: query in tg.callback_answers)
        await tg.wait_for(lambda: (ask.text or "").startswith("Deleted"))

        # Their name and their words are gone from the database and its write-ahead log, while
        # the forwarder's job row (their record) stays, pointing at nothing.
        everything = database_bytes(db_path)
        assert NAME.encode() not in everything
        assert b"Wombat" not in everything
        assert job_rows(db_path) == [("", None, None)]


async def test_past_retention_finished_jobs_forget_their_file_and_names(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    clock = Clock()
    data, _, total = media.voice_note(2)
    forwarder = tg.user(3200, "Fay")
    async with run_bot(
        tuning=replace(FAST, clock=clock, purge_interval=0.05), TRANSCRIPT_RETENTION_HOURS=1
    ):
        chat = tg.private_chat(forwarder)
        note = tg.send_voice(
            chat, forwarder, data, duration=round(total), forward_origin=origin(tg, 3201)
        )
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        [(file_id, header, _)] = job_rows(db_path)
        assert file_id and header and NAME in header

        clock.advance(3600 + 5)
        await tg.wait_for(lambda: job_rows(db_path)[0][:2] == ("", None))
        await tg.wait_for(lambda: NAME.encode() not in database_bytes(db_path))


async def test_in_local_mode_the_servers_copy_is_deleted_after_the_job(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    tg.local_mode = True
    data, _, total = media.voice_note(2)
    lara = tg.user(3300, "Lara")
    async with run_bot(TELEGRAM_LOCAL_MODE=True):
        chat = tg.private_chat(lara)
        note = tg.send_voice(chat, lara, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        served = tg.disk_path(note["voice"]["file_id"])
        await tg.wait_for(lambda: not served.exists())
