"""/forgetme (issue 6, test 5): after the confirmation, the user's rows are gone everywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import answer_to, transcript_of

GROUP = -100700


def rows_about(db_path: Path, value: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that holds `value` in any column, by table."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with sqlite3.connect(db_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            where = " OR ".join(f'"{c}" = :v' for c in columns)
            rows = conn.execute(f'SELECT * FROM "{table}" WHERE {where}', {"v": value}).fetchall()
            if rows:
                found[table] = rows
    return found


def button(message: BotMessage, label: str) -> str:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


async def test_forgetme_deletes_the_users_rows_from_every_table_and_keeps_admin_grants(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    group = tg.group_chat(GROUP, "Team")
    lena, olaf, gus = tg.user(2000, "Lena"), tg.user(2001, "Olaf"), tg.user(2002, "Gus")
    admin = tg.user(ADMIN_ID, "Op")
    data, _, total = media.voice_note(2)  # 2.2 s: billed 3 s

    async def say(user: dict[str, Any], chat: dict[str, Any], text: str) -> BotMessage:
        cmd = tg.send_text(chat, user, text)
        return await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))

    async def transcribe(user: dict[str, Any], chat: dict[str, Any]) -> None:
        note = tg.send_voice(chat, user, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))

    async def press(chat: dict[str, Any], ask: BotMessage, user: dict[str, Any], label: str) -> str:
        query = tg.press(chat["id"], ask.message_id, user, button(ask, label))
        await tg.wait_for(lambda: query in tg.callback_answers)
        return str(tg.callback_answers[query].get("text") or "")

    async with run_bot(DEFAULT_QUOTA_SECONDS=4):
        lena_chat, olaf_chat, gus_chat = (tg.private_chat(u) for u in (lena, olaf, gus))
        # Lena: a transcribed (and retained) note, a language, and, out of quota in the
        # group, a quota notice there.
        await transcribe(lena, lena_chat)
        await say(lena, lena_chat, "/language de")
        over = tg.send_voice(group, lena, data, duration=round(total))
        await tg.wait_for(lambda: tg.replies_to(GROUP, over["message_id"]))
        # Others the deletion must not touch; Gus has a quota an admin gave him.
        await transcribe(olaf, olaf_chat)
        await say(admin, tg.private_chat(admin), f"/setquota {gus['id']} 600")
        await say(gus, gus_chat, "/language es")
        assert set(rows_about(db_path, lena["id"])) == {
            "users",
            "usage",
            "jobs",
            "transcripts",
            "quota_notices",
        }

        # In the group, only Lena's own press counts.
        ask = await say(lena, group, "/forgetme")
        assert "Only the person" in await press(group, ask, olaf, "🗑 Yes, delete")
        await press(group, ask, lena, "Cancel")
        await tg.wait_for(lambda: ask.text == "Nothing was deleted.")
        assert rows_about(db_path, lena["id"])

        ask = await say(lena, lena_chat, "/forgetme")
        assert "everything I store about you" in (ask.text or "")
        await press(lena_chat, ask, lena, "🗑 Yes, delete")
        await tg.wait_for(lambda: (ask.text or "").startswith("Deleted"))
        done = ask.text or ""
        assert ask.reply_markup is None

        ask_gus = await say(gus, gus_chat, "/forgetme")
        await press(gus_chat, ask_gus, gus, "🗑 Yes, delete")
        await tg.wait_for(lambda: (ask_gus.text or "").startswith("Deleted"))
        usage = await say(lena, lena_chat, "/usage")

    assert rows_about(db_path, lena["id"]) == {}
    assert "records of transcribed notes: 1" in done
    assert "periods of usage history: 1" in done
    assert "transcripts kept for the file buttons: 1" in done
    assert "your recognition language" in done
    assert "No quota was set for you by an admin" in done
    assert (usage.text or "").startswith("You used 0 s")
    # Gus's quota is the admin's and stays (and he is told); his language is gone.
    assert "Kept: the quota a bot admin gave you (600 s" in (ask_gus.text or "")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute(
            "SELECT quota_seconds, quota_set_by, language FROM users WHERE user_id = ?",
            (gus["id"],),
        ).fetchall() == [(600, ADMIN_ID, None)]
    # Olaf keeps everything.
    assert {"usage", "jobs", "transcripts"} <= set(rows_about(db_path, olaf["id"]))
