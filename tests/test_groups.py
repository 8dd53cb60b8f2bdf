"""Groups: auto and on-demand transcription, forwarded notes, quiet and fair."""

from __future__ import annotations

import time
from typing import Any

from bot.app import Tuning
from tests import media
from tests.conftest import ADMIN_ID, FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import ADMIN_RIGHTS, BotMessage, FakeTelegram
from tests.helpers import Db, answer_to, expected_lines, job_statuses, usage_row
from tests.postgres import both_backends

pytestmark = both_backends

GROUP = -100500


def reply_to(tg: FakeTelegram, chat_id: int, message_id: int) -> BotMessage | None:
    """The bot's transcript in reply to a note (groups' auto mode sends it directly)."""
    replies = [m for m in tg.replies_to(chat_id, message_id) if not (m.text or "").startswith("🎧")]
    return replies[0] if replies else None


async def settle(tg: FakeTelegram, chat: dict[str, Any], user: dict[str, Any]) -> None:
    """Send /help and wait for its answer: every earlier update has been handled by then."""
    cmd = tg.send_text(chat, user, "/help")
    await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))


async def test_auto_mode_transcribes_and_off_means_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    pat, boss = tg.user(900, "Pat"), tg.user(901, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    data, words, total = media.voice_note(3)
    async with run_bot():
        note = tg.send_voice(group, pat, data, duration=round(total))
        reply = await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))
        assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        assert usage_row(database, pat["id"])[0] > 0

        cmd = tg.send_text(group, boss, "/autotranscribe off")
        await tg.wait_for(lambda: answer_to(tg, GROUP, cmd["message_id"]))
        silent = tg.send_voice(group, pat, data, duration=round(total))
        await settle(tg, group, boss)
    assert tg.replies_to(GROUP, silent["message_id"]) == []
    assert len(mistral.transcriptions) == 1
    assert usage_row(database, pat["id"])[0] == mistral.transcriptions[0].billed_seconds


async def test_only_admins_switch_auto_mode(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    member, owner, operator = tg.user(910, "Mia"), tg.user(911, "Owner"), tg.user(ADMIN_ID, "Op")
    tg.set_admins(GROUP, [owner["id"]])
    data, _, total = media.voice_note(2)
    async with run_bot():
        refused = tg.send_text(group, member, "/autotranscribe off")
        answer = await tg.wait_for(lambda: answer_to(tg, GROUP, refused["message_id"]))
        assert "admins" in (answer.text or "")
        # Still on: a note is transcribed.
        note = tg.send_voice(group, member, data, duration=round(total))
        await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))

        done = tg.send_text(group, owner, "/autotranscribe off")
        answer = await tg.wait_for(lambda: answer_to(tg, GROUP, done["message_id"]))
        assert "off" in (answer.text or "")
        # A bot admin who is not a group admin may switch it back.
        back = tg.send_text(group, operator, "/autotranscribe on")
        answer = await tg.wait_for(lambda: answer_to(tg, GROUP, back["message_id"]))
        assert "is on" in (answer.text or "")
        again = tg.send_voice(group, member, data, duration=round(total))
        await tg.wait_for(lambda: reply_to(tg, GROUP, again["message_id"]))
    assert len(mistral.transcriptions) == 2


async def test_transcribe_on_request_is_paid_by_the_requester(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    poster, asker, boss = tg.user(920, "Poster"), tg.user(921, "Asker"), tg.user(922, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    data, words, total = media.voice_note(3)
    async with run_bot():
        off = tg.send_text(group, boss, "/autotranscribe off")
        await tg.wait_for(lambda: answer_to(tg, GROUP, off["message_id"]))
        note = tg.send_voice(group, poster, data, duration=round(total))
        ask = tg.send_text(group, asker, "/transcribe", reply_to_message=note)
        reply = await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))
        assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        assert reply.edits > 0  # the status message became the transcript
        text = tg.send_text(group, poster, "just text")
        hint_ask = tg.send_text(group, asker, "/transcribe", reply_to_message=text)
        hint = await tg.wait_for(lambda: answer_to(tg, GROUP, hint_ask["message_id"]))
    assert ask["message_id"] < reply.message_id
    assert "Reply to a voice note" in (hint.text or "")
    assert hint.reply_to_message_id == hint_ask["message_id"]
    assert usage_row(database, asker["id"])[0] == mistral.transcriptions[0].billed_seconds
    assert usage_row(database, poster["id"]) == (0, 0)


async def test_forwarded_notes_are_headed_by_their_origin(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    forwarder = tg.user(930, "Fwd")
    data, _, total = media.voice_note(2)
    origins = {
        "Anna Karenina": {
            "type": "user",
            "date": int(time.time()),
            "sender_user": tg.user(931, "Anna", last_name="Karenina"),
        },
        "Hidden Hugo": {
            "type": "hidden_user",
            "date": int(time.time()),
            "sender_user_name": "Hidden Hugo",
        },
        "Daily News": {
            "type": "channel",
            "date": int(time.time()),
            "chat": {"id": -1009999, "type": "channel", "title": "Daily News"},
            "message_id": 77,
        },
    }
    async with run_bot():
        sent = {
            name: tg.send_voice(
                group, forwarder, data, duration=round(total), forward_origin=origin
            )
            for name, origin in origins.items()
        }
        for name, note in sent.items():
            reply = await tg.wait_for(lambda n=note: reply_to(tg, GROUP, n["message_id"]))
            assert (reply.text or "").splitlines()[0] == f"Forwarded from {name}"
            assert reply.html is not None and reply.html.startswith("<i>")
        # Private too.
        chat = tg.private_chat(forwarder)
        own = tg.send_voice(
            chat, forwarder, data, duration=round(total), forward_origin=origins["Hidden Hugo"]
        )
        reply = await tg.wait_for(
            lambda: (
                reply_to(tg, chat["id"], own["message_id"])
                if reply_to(tg, chat["id"], own["message_id"])
                and reply_to(tg, chat["id"], own["message_id"]).edits
                else None
            )
        )  # type: ignore[union-attr]
        assert (reply.text or "").splitlines()[0] == "Forwarded from Hidden Hugo"
    # The forwarder paid for all four.
    assert usage_row(database, forwarder["id"])[0] == sum(
        c.billed_seconds for c in mistral.transcriptions
    )
    assert usage_row(database, 931) == (0, 0)


async def test_added_to_a_group_it_explains_itself_once(tg: FakeTelegram, run_bot: RunBot) -> None:
    group = tg.group_chat(GROUP, "Team")
    adder = tg.user(940, "Adder")

    def membership(old: str, new: str) -> dict[str, Any]:
        return {
            "chat": group,
            "from": adder,
            "date": int(time.time()),
            "old_chat_member": {"status": old, "user": tg.bot_user},
            "new_chat_member": {"status": new, "user": tg.bot_user},
        }

    async with run_bot():
        tg.push_update(my_chat_member=membership("left", "member"))
        (hello,) = await tg.wait_for(lambda: tg.bot_messages(GROUP))
        # Promoted to admin, then removed and added again: no second explanation.
        tg.push_update(
            my_chat_member={
                **membership("member", "administrator"),
                "new_chat_member": {
                    "status": "administrator",
                    "user": tg.bot_user,
                    **ADMIN_RIGHTS,
                },
            }
        )
        tg.push_update(my_chat_member=membership("member", "left"))
        tg.push_update(my_chat_member=membership("left", "member"))
        await settle(tg, group, adder)
    assert (
        len([m for m in tg.bot_messages(GROUP) if "I turn voice notes into text" in (m.text or "")])
        == 1
    )
    assert "admin" in (hello.text or "") and "/transcribe" in (hello.text or "")


async def test_a_burst_in_a_group_keeps_the_limit_and_does_not_hold_back_others(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Telegram's 20 messages a minute per group, with the minute shrunk to 2 s for the test;
    # the bot's group pace is shrunk by the same factor (1 per 3 s -> 1 per 0.1 s, plus margin).
    tg.group_limit_per_minute = 20
    tg.group_window_seconds = 2.0
    tuning = Tuning(
        mistral_retry=FAST.mistral_retry,
        download_backoff=FAST.download_backoff,
        group_rate=(1, 0.12),
    )
    mistral.latency = 0.2
    group = tg.group_chat(GROUP, "Busy")
    data, words, total = media.voice_note(2)
    posters = [tg.user(1100 + n, f"P{n}") for n in range(30)]
    loner = tg.user(1200, "Loner")
    private = tg.private_chat(loner)
    async with run_bot(tuning):
        notes = [tg.send_voice(group, p, data, duration=round(total)) for p in posters]
        mine = tg.send_voice(private, loner, data, duration=round(total))
        replies = await tg.wait_for(
            lambda: (
                all(reply_to(tg, GROUP, n["message_id"]) for n in notes)
                and [reply_to(tg, GROUP, n["message_id"]) for n in notes]
            ),
            timeout=60,
        )
        private_reply = await tg.wait_for(lambda: reply_to(tg, private["id"], mine["message_id"]))
    expected = expected_lines(words, mistral.vocabulary)
    assert all((r.text or "").splitlines() == expected for r in replies if r)
    assert (private_reply.text or "").splitlines() == expected
    assert len(mistral.transcriptions) == 31
    assert tg.count_429 <= 3
    # The private transcript went out while most of the group's were still to come.
    sends = [
        r
        for r in tg.requests
        if r.method in ("sendMessage", "editMessageText")
        and not r.params.get("text", "").startswith("🎧")
    ]
    private_at = next(i for i, r in enumerate(sends) if r.params["chat_id"] == private["id"])
    group_before = sum(1 for r in sends[:private_at] if r.params["chat_id"] == GROUP)
    assert group_before < 15


async def test_forum_topic_replies_stay_in_the_topic(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    forum = tg.group_chat(GROUP, "Forum", is_forum=True)
    quinn = tg.user(950, "Quinn")
    data, _, total = media.voice_note(2)
    async with run_bot():
        note = tg.send_voice(
            forum, quinn, data, duration=round(total), message_thread_id=42, is_topic_message=True
        )
        reply = await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))
    assert reply.message_thread_id == 42
    assert tg.calls("sendMessage")[-1].params.get("message_thread_id") == 42


async def test_an_edited_caption_is_not_transcribed_again(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    rae = tg.user(960, "Rae")
    data, _, total = media.voice_note(2)
    async with run_bot():
        note = tg.send_voice(group, rae, data, duration=round(total))
        await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))
        tg.push_update(
            edited_message={**note, "caption": "new caption", "edit_date": int(time.time())}
        )
        await settle(tg, group, rae)
    assert len(mistral.transcriptions) == 1
    assert len(tg.replies_to(GROUP, note["message_id"])) == 1


async def test_migrated_group_keeps_its_auto_mode(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    old = tg.group_chat(-4242, "Small", supergroup=False)
    boss, sam = tg.user(970, "Boss"), tg.user(971, "Sam")
    tg.set_admins(-4242, [boss["id"]])
    data, _, total = media.voice_note(2)
    async with run_bot():
        off = tg.send_text(old, boss, "/autotranscribe off")
        await tg.wait_for(lambda: answer_to(tg, -4242, off["message_id"]))
        new = tg.group_chat(GROUP, "Small")
        tg.push_update(message=tg.new_message(old, boss, migrate_to_chat_id=GROUP))
        tg.push_update(
            message=tg.new_message(new, None, migrate_from_chat_id=-4242, sender_chat=new)
        )
        note = tg.send_voice(new, sam, data, duration=round(total))
        await settle(tg, new, boss)
    assert tg.replies_to(GROUP, note["message_id"]) == []
    assert mistral.transcriptions == []


async def test_auto_mode_is_quiet_about_failures_and_quota(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    vic, walt = tg.user(980, "Vic"), tg.user(981, "Walt")
    data, _, total = media.voice_note(3)
    async with run_bot(DEFAULT_QUOTA_SECONDS=5):
        # A corrupt note: no message in the group, nothing charged.
        broken = tg.send_voice(group, vic, b"OggS" + bytes(30_000), duration=3)
        # Walt is out of quota after one note; his next two are refused, and told so once.
        first = tg.send_voice(group, walt, data, duration=round(total))
        await tg.wait_for(lambda: reply_to(tg, GROUP, first["message_id"]))
        second = tg.send_voice(group, walt, data, duration=round(total))
        third = tg.send_voice(group, walt, data, duration=round(total))
        await settle(tg, group, vic)
        # The corrupt note's job has ended (re-checked at least at every long poll).
        await tg.wait_for(lambda: "failed" in job_statuses(database))
    assert tg.replies_to(GROUP, broken["message_id"]) == []
    refusals = tg.replies_to(GROUP, second["message_id"]) + tg.replies_to(
        GROUP, third["message_id"]
    )
    assert len(refusals) == 1
    assert "Not enough quota" in (refusals[0].text or "")
    assert usage_row(database, vic["id"]) == (0, 0)
    assert len(mistral.transcriptions) == 1


async def test_transcribe_retries_a_note_whose_auto_job_failed(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Team")
    poster, asker = tg.user(990, "Poster"), tg.user(991, "Asker")
    data, words, total = media.voice_note(3)
    # An outage as long as the job's retries: auto mode's job fails, quietly.
    attempts = FAST.mistral_retry.attempts
    mistral.fail_transcriptions(500, times=attempts)
    async with run_bot():
        note = tg.send_voice(group, poster, data, duration=round(total))
        await mistral.wait_for(lambda: len(mistral.transcriptions) == attempts)
        await settle(tg, group, poster)
        await tg.wait_for(lambda: job_statuses(database) == ["failed"])
        assert tg.replies_to(GROUP, note["message_id"]) == []
        ask = tg.send_text(group, asker, "/transcribe", reply_to_message=note)
        reply = await tg.wait_for(lambda: reply_to(tg, GROUP, note["message_id"]))
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert ask["message_id"] < reply.message_id
    assert job_statuses(database) == ["done"]
    billed = [c.billed_seconds for c in mistral.transcriptions if c.status == 200]
    assert len(billed) == 1
    assert usage_row(database, asker["id"]) == (billed[0], 0)
    assert usage_row(database, poster["id"]) == (0, 0)
