"""/forgetme: after the confirmation, the user's rows are gone everywhere."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import Db, answer_to, transcript_of
from tests.postgres import both_backends

pytestmark = both_backends

GROUP = -100700
User = dict[str, Any]
Chat = dict[str, Any]


def rows_about(db: Db, value: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that holds `value` in any column, by table."""
    if db.url:
        tables = [
            r[0]
            for r in db.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        columns = {t: [r[0] for r in db.rows(query, (t,))] for t in tables}
        match, param = 'CAST("{}" AS TEXT) = ?', str(value)
    else:
        tables = [r[0] for r in db.rows("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {t: [r[1] for r in db.rows(f"PRAGMA table_info({t})")] for t in tables}
        match, param = '"{}" = ?', str(value)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        where = " OR ".join(match.format(c) for c in columns[table])
        rows = db.rows(f'SELECT * FROM "{table}" WHERE {where}', [param] * len(columns[table]))
        if rows:
            found[table] = rows
    return found


def button(message: BotMessage, label: str) -> str:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


async def say(tg: FakeTelegram, user: User, chat: Chat, text: str) -> BotMessage:
    """A user's message and the bot's first answer to it."""
    cmd = tg.send_text(chat, user, text)
    return await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))


async def press(tg: FakeTelegram, chat: Chat, ask: BotMessage, user: User, label: str) -> str:
    """A user taps a button of `ask`; the text of the bot's answer to the tap."""
    await tg.wait_for(lambda: ask.reply_markup)  # added once the question is out
    query = tg.press(chat["id"], ask.message_id, user, button(ask, label))
    await tg.wait_for(lambda: query in tg.callback_answers)
    return str(tg.callback_answers[query].get("text") or "")


async def forget(tg: FakeTelegram, user: User, chat: Chat) -> str:
    """/forgetme and confirm; the bot's final word on it."""
    ask = await say(tg, user, chat, "/forgetme")
    await press(tg, chat, ask, user, "🗑 Yes, delete")
    await tg.wait_for(lambda: (ask.text or "").startswith("Deleted"))
    return ask.text or ""


async def test_forgetme_deletes_the_users_rows_from_every_table_and_keeps_admin_grants(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    lena, olaf, gus = tg.user(2000, "Lena"), tg.user(2001, "Olaf"), tg.user(2002, "Gus")
    admin = tg.user(ADMIN_ID, "Op")
    data, _, total = media.voice_note(2)  # 2.2 s: billed 3 s

    async def transcribe(user: dict[str, Any], chat: dict[str, Any]) -> None:
        note = tg.send_voice(chat, user, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))

    async with run_bot(DEFAULT_QUOTA_SECONDS=4):
        lena_chat, olaf_chat, gus_chat = (tg.private_chat(u) for u in (lena, olaf, gus))
        # Lena: a transcribed (and retained) note, a language, and, out of quota in the
        # group, a quota notice there.
        await transcribe(lena, lena_chat)
        await say(tg, lena, lena_chat, "/language de")
        over = tg.send_voice(group, lena, data, duration=round(total))
        await tg.wait_for(lambda: tg.replies_to(GROUP, over["message_id"]))
        # Others the deletion must not touch; Gus has a quota an admin gave him.
        await transcribe(olaf, olaf_chat)
        await say(tg, admin, tg.private_chat(admin), f"/setquota {gus['id']} 600")
        await say(tg, gus, gus_chat, "/language es")
        assert set(rows_about(database, lena["id"])) == {
            "users",
            "usage",
            "jobs",
            "transcripts",
            "quota_notices",
        }

        # In the group, only Lena's own press counts.
        ask = await say(tg, lena, group, "/forgetme")
        assert "Only the person" in await press(tg, group, ask, olaf, "🗑 Yes, delete")
        await press(tg, group, ask, lena, "Cancel")
        await tg.wait_for(lambda: ask.text == "Nothing was deleted.")
        assert rows_about(database, lena["id"])

        ask = await say(tg, lena, lena_chat, "/forgetme")
        assert "everything I store about you" in (ask.text or "")
        await press(tg, lena_chat, ask, lena, "🗑 Yes, delete")
        await tg.wait_for(lambda: (ask.text or "").startswith("Deleted"))
        done = ask.text or ""
        assert ask.reply_markup is None
        # Right after forgetting, not a trace of her id anywhere.
        assert rows_about(database, lena["id"]) == {}

        gus_done = await forget(tg, gus, gus_chat)
        usage = await say(tg, lena, lena_chat, "/usage")

    assert "records of transcribed notes: 1" in done
    assert "periods of usage history: 1" in done
    assert "transcripts kept for the file buttons: 1" in done
    assert "your recognition language" in done
    assert "No quota was set for you by an admin" in done
    # This period's count was kept under a pseudonym, and is hers again when she comes back.
    assert "Kept until this quota period ends" in done
    assert "the 3 s you used this month, under a code instead of your id" in done
    assert (usage.text or "").startswith("You used 3 s")
    # Gus's quota is the admin's and stays (and he is told); his language is gone.
    assert "Kept: the quota a bot admin gave you (600 s" in gus_done
    assert "under a code" not in gus_done  # he used nothing this period: nothing to keep
    assert database.rows(
        "SELECT quota_seconds, quota_set_by, language FROM users WHERE user_id = ?", (gus["id"],)
    ) == [(600, ADMIN_ID, None)]
    # Olaf keeps everything.
    assert {"usage", "jobs", "transcripts"} <= set(rows_about(database, olaf["id"]))


def carried_over(db: Db) -> list[tuple[Any, ...]]:
    return db.rows("SELECT * FROM carried_usage ORDER BY period")


async def test_forgetme_keeps_this_periods_count_without_the_id_so_the_quota_still_applies(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    mia = tg.user(2100, "Mia")
    chat = tg.private_chat(mia)
    data, _, total = media.voice_note(2)  # 2.2 s: billed 3 s
    async with run_bot(DEFAULT_QUOTA_SECONDS=4):
        note = tg.send_voice(chat, mia, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        done = await forget(tg, mia, chat)
        assert rows_about(database, mia["id"]) == {}
        # Kept: the period and its seconds under a keyed hash of the id, nothing else.
        ((pseudonym, period, seconds),) = carried_over(database)
        assert seconds == 3
        assert re.fullmatch(r"\d{4}-\d{2}", period)  # this month's key
        assert len(pseudonym) == 32
        assert pseudonym != hashlib.sha256(str(mia["id"]).encode()).digest()
        # Forgetting again before coming back keeps the same count, once.
        assert "the 3 s you used this month" in await forget(tg, mia, chat)
        assert [row[1:] for row in carried_over(database)] == [(period, 3)]

        again = tg.send_voice(chat, mia, data, duration=round(total))
        refused = await tg.wait_for(lambda: tg.replies_to(chat["id"], again["message_id"]))
        usage = await say(tg, mia, chat, "/usage")
    assert "under a code instead of your id" in done
    assert (refused[0].text or "").startswith("Not enough quota for this note (2 s): you have 1 s")
    assert (usage.text or "").startswith("You used 3 s this month.")
    assert carried_over(database) == []
    assert len(mistral.transcriptions) == 1


async def test_a_count_carried_over_is_purged_once_its_period_has_ended(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    ned = tg.user(2200, "Ned")
    chat = tg.private_chat(ned)
    data, _, total = media.voice_note(2)
    async with run_bot(QUOTA_PERIOD="day"):
        note = tg.send_voice(chat, ned, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        done = await forget(tg, ned, chat)
    assert "the 3 s you used today" in done
    assert len(carried_over(database)) == 1
    await asyncio.sleep(0)  # let the first bot's connections close before the second starts
    # The operator moves to monthly quotas: today's period is over, and so is its count.
    async with run_bot(QUOTA_PERIOD="month"):
        assert carried_over(database) == []
        usage = await say(tg, ned, chat, "/usage")
    assert (usage.text or "").startswith("You used 0 s this month.")


async def test_forgetme_buttons_work_on_a_message_telegram_marks_inaccessible(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    # Telegram may send the pressed message as an InaccessibleMessage (only chat, id and a
    # date of 0); the buttons must still answer and replace the question with the outcome.
    ola = tg.user(2300, "Ola")
    chat = tg.private_chat(ola)

    async def press_inaccessible(label: str) -> BotMessage:
        ask = await say(tg, ola, chat, "/forgetme")
        await tg.wait_for(lambda: ask.reply_markup)
        query = tg.press(chat["id"], ask.message_id, ola, button(ask, label), inaccessible=True)
        await tg.wait_for(lambda: query in tg.callback_answers)
        return ask

    async with run_bot():
        await say(tg, ola, chat, "/language de")
        cancelled = await press_inaccessible("Cancel")
        await tg.wait_for(lambda: cancelled.text == "Nothing was deleted.")
        confirmed = await press_inaccessible("🗑 Yes, delete")
        await tg.wait_for(lambda: (confirmed.text or "").startswith("Deleted"))
    assert "your recognition language" in (confirmed.text or "")
    assert rows_about(database, ola["id"]) == {}


async def test_forgetme_deletes_the_transcript_of_ones_note_that_someone_else_paid_for(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    club = -100710
    group = tg.group_chat(club, "Club")
    pia, quinn, boss = tg.user(2400, "Pia"), tg.user(2401, "Quinn"), tg.user(2402, "Boss")
    tg.set_admins(club, [boss["id"]])
    pia_chat = tg.private_chat(pia)
    data, _, total = media.voice_note(2)
    async with run_bot():
        await say(tg, boss, group, "/autotranscribe off")
        note = tg.send_voice(group, pia, data, duration=round(total))
        mistral.hang_next(30)
        tg.send_text(group, quinn, "/transcribe", reply_to_message=note)
        await mistral.wait_for(lambda: mistral.hanging == 1)
        # Her note is being transcribed on Quinn's account: its transcript is still to come.
        ask = await say(tg, pia, pia_chat, "/forgetme")
        busy = await press(tg, pia_chat, ask, pia, "🗑 Yes, delete")
        mistral.release_hangs()
        (transcript,) = await tg.wait_for(lambda: transcript_of(tg, club, note["message_id"]))
        assert set(rows_about(database, pia["id"])) == {"jobs", "transcripts"}

        done = await forget(tg, pia, pia_chat)
        assert rows_about(database, pia["id"]) == {}
        query = tg.press(
            club, transcript.message_id, quinn, button(transcript, "🎬 Subtitles (.srt)")
        )
        await tg.wait_for(lambda: query in tg.callback_answers)
    assert "still being transcribed" in busy
    assert "transcripts kept for the file buttons: 1" in done
    assert "records of transcribed notes: 0" in done  # the job is Quinn's record
    assert "no longer kept" in str(tg.callback_answers[query].get("text"))
    # Quinn paid for it: his usage and his record of the job stay.
    assert {"usage", "jobs"} <= set(rows_about(database, quinn["id"]))
