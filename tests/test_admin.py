"""Bot admins' commands: they work for admins, refuse others, explain usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, transcript_of, usage_row


async def ask(tg: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str) -> str:
    """Send a command and return the bot's answer."""
    cmd = tg.send_text(chat, user, text)
    answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
    return answer.text or ""


async def test_admin_commands_do_what_they_say(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    gus = tg.user(500, "Gus")
    gus_chat = tg.private_chat(gus)
    data, _, total = media.voice_note(2)
    async with run_bot():
        assert "is now 600 s" in await ask(tg, admin_chat, admin, "/setquota 500 600")
        assert "Quota: 600 s" in await ask(tg, admin_chat, admin, "/usage 500")

        # As a reply to the user's message in a group, with only the amount.
        group = tg.group_chat(-5000, "Team")
        hello = tg.send_text(group, gus, "hello")
        reply = tg.send_text(group, admin, "/setquota unlimited", reply_to_message=hello)
        answer = await tg.wait_for(lambda: answer_to(tg, group["id"], reply["message_id"]))
        assert "Quota of user 500 is now unlimited" in (answer.text or "")
        assert "Quota: unlimited" in await ask(tg, admin_chat, admin, "/usage 500")

        note = tg.send_voice(gus_chat, gus, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, gus_chat["id"], note["message_id"]))
        used = usage_row(db_path, 500)[0]
        assert used > 0
        assert f"User 500 used {used} s" in await ask(tg, admin_chat, admin, "/usage 500")

        stats = await ask(tg, admin_chat, admin, "/stats")
        assert "Users: 1" in stats
        assert f"{used} s" in stats
        assert "1 done, 0 failed" in stats
        assert f"500: {used} s" in stats

        assert f"({used} s cleared)" in await ask(tg, admin_chat, admin, "/resetusage 500")
        assert usage_row(db_path, 500) == (0, 0)

        assert "is blocked" in await ask(tg, admin_chat, admin, "/block 500")
        blocked_note = tg.send_voice(gus_chat, gus, data, duration=round(total))
        # The next update is answered, so the blocked note was seen and ignored by then.
        await ask(tg, gus_chat, gus, "/help")
        assert tg.replies_to(gus_chat["id"], blocked_note["message_id"]) == []
        assert "unblocked" in await ask(tg, admin_chat, admin, "/unblock 500")
        again = tg.send_voice(gus_chat, gus, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, gus_chat["id"], again["message_id"]))
    assert len(mistral.transcriptions) == 2


@pytest.mark.parametrize(
    "command",
    ["/setquota 600 10", "/usage 600", "/resetusage 600", "/block 600", "/unblock 600", "/stats"],
)
async def test_non_admins_are_refused_and_nothing_changes(
    tg: FakeTelegram, run_bot: RunBot, db_path: Path, command: str
) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    hal = tg.user(600, "Hal")
    chat = tg.private_chat(hal)
    async with run_bot():
        before = await ask(tg, admin_chat, admin, "/usage 600")
        assert "admins" in await ask(tg, chat, hal, command)
        assert await ask(tg, admin_chat, admin, "/usage 600") == before
    assert "Blocked" not in before


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/setquota", "Usage: /setquota"),
        ("/setquota abc 10", "Usage: /setquota"),
        ("/setquota 600 lots", "Usage: /setquota"),
        ("/setquota 600 10 20", "Usage: /setquota"),
        # Digits beyond ASCII 0-9: Python's isdigit() and int() accept some of them.
        ("/setquota ² 5", "Usage: /setquota"),
        ("/setquota 600 ²", "Usage: /setquota"),
        ("/setquota 600 ５", "Usage: /setquota"),
        ("/usage x", "Usage: /usage"),
        ("/usage ²", "Usage: /usage"),
        ("/usage --5", "Usage: /usage"),
        ("/block ٣", "Usage: /block"),
        ("/resetusage", "Usage: /resetusage"),
        ("/block me", "Usage: /block"),
        ("/unblock", "Usage: /unblock"),
        ("/stats now", "Usage: /stats"),
    ],
)
async def test_malformed_admin_commands_get_a_usage_line(
    tg: FakeTelegram, run_bot: RunBot, command: str, usage: str
) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    async with run_bot():
        answer = await ask(tg, admin_chat, admin, command)
    assert answer.startswith(usage)
    assert len(answer.splitlines()) == 1


async def test_an_edited_command_does_not_run_again(tg: FakeTelegram, run_bot: RunBot) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    async with run_bot():
        block = tg.send_text(admin_chat, admin, "/block 601")
        await tg.wait_for(lambda: answer_to(tg, admin_chat["id"], block["message_id"]))
        assert "unblocked" in await ask(tg, admin_chat, admin, "/unblock 601")
        tg.push_update(edited_message={**block, "edit_date": block["date"] + 5})
        cmd = tg.send_text(admin_chat, admin, "/usage 601")

        def usage_answer() -> str | None:
            later = [m.text or "" for m in tg.bot_messages(admin_chat["id"])]
            return next((t for t in later if t.startswith("User 601 used")), None)

        status = await tg.wait_for(usage_answer)
    assert cmd["message_id"] > block["message_id"]
    assert "Blocked" not in status
    assert sum("is blocked" in (m.text or "") for m in tg.bot_messages(admin_chat["id"])) == 1


async def test_setquota_in_reply_to_a_note_from_a_hidden_sender_changes_nothing(
    tg: FakeTelegram, run_bot: RunBot
) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    ivo = tg.user(700, "Ivo")
    group = tg.group_chat(-5100, "Team")
    hidden = {"type": "hidden_user", "date": 1, "sender_user_name": "Hidden Hugo"}
    async with run_bot():
        before = {uid: await ask(tg, admin_chat, admin, f"/usage {uid}") for uid in (700, ADMIN_ID)}
        # Forwarded by Ivo, and by the admin: neither is the note's author.
        for forwarder in (ivo, admin):
            note = tg.send_text(group, forwarder, "a forwarded message", forward_origin=hidden)
            cmd = tg.send_text(group, admin, "/setquota 5", reply_to_message=note)
            answer = await tg.wait_for(lambda c=cmd: answer_to(tg, group["id"], c["message_id"]))
            assert "original sender of that message is hidden" in (answer.text or "")
            assert len((answer.text or "").splitlines()) == 1
        after = {uid: await ask(tg, admin_chat, admin, f"/usage {uid}") for uid in (700, ADMIN_ID)}
    assert after == before
