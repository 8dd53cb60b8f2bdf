"""Messages sent on behalf of a chat (channels, anonymous group admins) count as that chat:
it pays, it is blocked, admins set its quota; never Telegram's shared placeholder user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import answer_to, transcript_of, usage_row

GROUP = -100800
CHANNEL_BOT = 136817688  # Telegram's `from` for messages posted as a channel
ANONYMOUS_ADMIN = 1087968824  # Telegram's `from` for a group's anonymous admins


def channel(chat_id: int, title: str) -> dict[str, Any]:
    return {"id": chat_id, "type": "channel", "title": title}


def transcript(tg: FakeTelegram, chat_id: int, message_id: int) -> BotMessage | None:
    """The bot's transcript in reply to a note, once it is more than a status message."""
    replies = [m for m in tg.replies_to(chat_id, message_id) if not (m.text or "").startswith("🎧")]
    return replies[0] if replies else None


async def ask(
    tg: FakeTelegram, chat: dict[str, Any], user: dict[str, Any], text: str, **fields: Any
) -> str:
    """Send a command (with message `fields`) and return the bot's answer."""
    cmd = tg.send_text(chat, user, text, **fields)
    answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
    return answer.text or ""


async def test_each_channel_pays_and_is_blocked_as_itself(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    group = tg.group_chat(GROUP, "Discussion")
    placeholder = tg.user(CHANNEL_BOT, "Channel", username="Channel_Bot", language_code=None)
    news, sport = channel(-1001111, "News"), channel(-1002222, "Sport")
    admin = tg.user(ADMIN_ID, "Op")
    admin_chat = tg.private_chat(admin)
    data, _, total = media.voice_note(2)  # billed 3 s

    async def post(as_chat: dict[str, Any]) -> dict[str, Any]:
        return tg.send_voice(group, placeholder, data, duration=round(total), sender_chat=as_chat)

    # 4 s each: two channels sharing one quota could not both post a 3 s note.
    async with run_bot(DEFAULT_QUOTA_SECONDS=4):
        first = await post(news)
        await tg.wait_for(lambda: transcript(tg, GROUP, first["message_id"]))
        second = await post(sport)
        await tg.wait_for(lambda: transcript(tg, GROUP, second["message_id"]))
        assert usage_row(db_path, news["id"]) == (3, 0)
        assert usage_row(db_path, sport["id"]) == (3, 0)
        assert usage_row(db_path, CHANNEL_BOT) == (0, 0)
        assert (await ask(tg, admin_chat, admin, f"/usage {news['id']}")).startswith(
            f"User {news['id']} used 3 s"
        )

        # Blocking one channel leaves the others alone.
        assert "is blocked" in await ask(tg, admin_chat, admin, f"/block {news['id']}")
        assert "is now 600 s" in await ask(tg, admin_chat, admin, f"/setquota {sport['id']} 600")
        ignored = await post(news)
        heard = await post(sport)
        await tg.wait_for(lambda: transcript(tg, GROUP, heard["message_id"]))
        assert "Blocked: yes." in await ask(tg, admin_chat, admin, f"/usage {news['id']}")
    assert tg.replies_to(GROUP, ignored["message_id"]) == []
    assert usage_row(db_path, sport["id"]) == (6, 0)
    assert len(mistral.transcriptions) == 3


async def test_setquota_in_reply_to_a_channel_post_is_for_that_channel(
    tg: FakeTelegram, run_bot: RunBot, db_path: Path
) -> None:
    group = tg.group_chat(GROUP, "Discussion")
    placeholder = tg.user(CHANNEL_BOT, "Channel", username="Channel_Bot", language_code=None)
    news = channel(-1003333, "News")
    admin = tg.user(ADMIN_ID, "Op")
    admin_chat = tg.private_chat(admin)
    async with run_bot():
        post = tg.new_message(group, placeholder, text="hello", sender_chat=news)
        tg.push_update(message=post)
        answer = await ask(tg, group, admin, "/setquota 42", reply_to_message=post)
        assert f"Quota of user {news['id']} is now 42 s" in answer
        assert "Quota: 42 s" in await ask(tg, admin_chat, admin, f"/usage {news['id']}")
        assert "Quota: 42 s" not in await ask(tg, admin_chat, admin, f"/usage {CHANNEL_BOT}")


async def test_anonymous_admins_transcribe_on_the_groups_account(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    group = tg.group_chat(GROUP, "Team")
    anonymous = tg.user(ANONYMOUS_ADMIN, "Group", username="GroupAnonymousBot", language_code=None)
    boss = tg.user(801, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    data, _, total = media.voice_note(2)
    async with run_bot():
        await ask(tg, group, boss, "/autotranscribe off")
        note = tg.send_voice(group, boss, data, duration=round(total))
        cmd = tg.send_text(
            group, anonymous, "/transcribe", reply_to_message=note, sender_chat=group
        )
        await tg.wait_for(lambda: transcript_of(tg, GROUP, note["message_id"]))
        usage = await ask(tg, group, anonymous, "/usage", sender_chat=group)
    assert cmd["message_id"] > note["message_id"]
    assert usage_row(db_path, GROUP) == (3, 0)
    assert usage_row(db_path, ANONYMOUS_ADMIN) == (0, 0)
    assert usage_row(db_path, boss["id"]) == (0, 0)
    # /usage sent as the group tells the group's standing, in English.
    assert usage.startswith("You used 3 s")
