"""Live transcripts: in a private chat the lines stream in as a draft, then come as one message."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot.i18n import texts
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, Draft, FakeTelegram
from tests.helpers import expected_lines, transcript_of, usage_row

GROUP = -100700


def final(tg: FakeTelegram, chat_id: int, message_id: int, lines: int) -> BotMessage | None:
    """The bot's reply to a note once it holds `lines` lines."""
    for reply in tg.replies_to(chat_id, message_id):
        if len((reply.text or "").splitlines()) >= lines:
            return reply
    return None


def shown(tg: FakeTelegram, chat_id: int) -> list[Draft]:
    """The drafts of a chat that showed some lines (not the "thinking" placeholder)."""
    return [d for d in tg.drafts_in(chat_id) if d.text]


def sent_at(tg: FakeTelegram, message: BotMessage) -> float:
    """When the sendMessage that made `message` reached the fake."""
    sends = [
        r
        for r in tg.calls("sendMessage")
        if str(r.params.get("chat_id")) == str(message.chat_id)
        and message.html is not None
        and r.params.get("text") == message.html
    ]
    return sends[0].at


def billed(mistral: FakeMistral) -> int:
    return sum(c.billed_seconds for c in mistral.transcriptions if c.status == 200)


async def test_a_private_note_streams_in_as_a_draft_then_comes_as_one_message(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    mistral.stream_first_delay, mistral.stream_gap = 0.5, 0.3
    data, words, total = media.voice_note(4)
    expected = expected_lines(words, mistral.vocabulary)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(LIVE_TRANSCRIPTS=True):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        message = await tg.wait_for(
            lambda: final(tg, chat["id"], note["message_id"], len(expected))
        )
    # The placeholder at once, then the first words, well before the transcript was done.
    drafts = tg.drafts_in(chat["id"])
    assert drafts[0].text == ""
    first = shown(tg, chat["id"])[0]
    assert first.text.splitlines()[0] == expected[0]
    assert first.at - tg.pushed_at(chat["id"], note["message_id"]) <= 2.0
    assert first.at < sent_at(tg, message)
    # Every draft is the transcript so far, rendered as the transcript is, under one draft id.
    for draft in shown(tg, chat["id"]):
        lines = draft.text.splitlines()
        assert lines == expected[: len(lines)]
    assert len({d.draft_id for d in drafts}) == 1 and drafts[0].draft_id != 0
    # One persistent message: the transcript, a reply to the note, with its buttons; no status.
    assert (message.text or "").splitlines() == expected
    assert tg.bot_messages(chat["id"]) == [message]
    assert message.reply_to_message_id == note["message_id"]
    assert message.edits == 0 and not tg.calls("editMessageText")
    assert message.reply_markup is not None
    # Mistral streamed once, and the note was charged what it billed.
    (call,) = mistral.transcriptions
    assert call.stream and call.status == 200
    assert usage_row(db_path, alice["id"]) == (billed(mistral), 0)


@functools.cache
def long_note() -> tuple[bytes, list[media.Word], float]:
    """About 100 s: a one-second word every five seconds, cut into chunks of 30 s."""
    words, total = media.script(20, word_seconds=1.0, pause_seconds=4.0, lead=0.2)
    return media.encode(media.speech(words, total, 16000), "ogg", 16000), words, total


async def test_a_long_note_shows_its_chunks_in_order(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    mistral.stream_first_delay, mistral.stream_gap = 0.2, 0.15
    data, words, total = long_note()
    expected = expected_lines(words, mistral.vocabulary)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    tuning = replace(FAST, draft_every=0.1)
    settings = {"CHUNK_SECONDS": 30, "MAX_CONCURRENT_TRANSCRIPTIONS": 2}
    async with run_bot(tuning, LIVE_TRANSCRIPTS=True, **settings):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        message = await tg.wait_for(
            lambda: final(tg, chat["id"], note["message_id"], len(expected)), timeout=60
        )
    assert (message.text or "").splitlines() == expected
    calls = [c for c in mistral.transcriptions if c.status == 200]
    assert len(calls) >= 3 and all(c.stream for c in calls)
    # Two chunks streamed side by side at a time, yet each draft is the transcript's beginning,
    # in order and at the whole recording's times, and it only grows.
    seen = [len(d.text.splitlines()) for d in shown(tg, chat["id"]) if d.at < sent_at(tg, message)]
    for draft in shown(tg, chat["id"]):
        lines = draft.text.splitlines()
        assert lines == expected[: len(lines)]
    assert seen == sorted(seen)
    # The first chunk holds at most 6 words (30 s): later chunks were shown before the end.
    assert len(set(seen)) >= 2 and max(seen) > 6


async def test_a_stream_that_breaks_midway_still_gives_the_whole_transcript_once(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    mistral.stream_first_delay, mistral.stream_gap = 0.1, 0.1
    mistral.break_stream_next(after_words=2)
    data, words, total = media.voice_note(4)
    expected = expected_lines(words, mistral.vocabulary)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(LIVE_TRANSCRIPTS=True):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        message = await tg.wait_for(
            lambda: final(tg, chat["id"], note["message_id"], len(expected))
        )
    assert (message.text or "").splitlines() == expected
    assert tg.bot_messages(chat["id"]) == [message]
    broken, plain = mistral.transcriptions
    assert broken.stream and broken.broken == "drop" and broken.billed_seconds == 0
    assert not plain.stream and plain.status == 200
    # Charged once: what the one whole answer billed.
    assert usage_row(db_path, alice["id"]) == (plain.billed_seconds, 0)
    assert plain.billed_seconds > 0


async def test_live_transcripts_off_keeps_the_status_message(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    expected = expected_lines(words, mistral.vocabulary)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(LIVE_TRANSCRIPTS=True):
        live = tg.send_voice(chat, alice, data, duration=round(total))
        await tg.wait_for(lambda: final(tg, chat["id"], live["message_id"], len(expected)))
    drafts = len(tg.calls("sendMessageDraft"))
    async with run_bot(LIVE_TRANSCRIPTS=False):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    # On, the note had drafts and a streamed answer; off, the status message became the
    # transcript, with no draft and no streaming.
    assert drafts > 0 and mistral.transcriptions[0].stream
    assert (replies[0].text or "").splitlines() == expected
    assert replies[0].edits > 0
    assert len(tg.calls("sendMessageDraft")) == drafts
    assert not mistral.transcriptions[1].stream and "stream" not in mistral.transcriptions[1].fields


async def test_groups_get_no_drafts_and_keep_the_status_message(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Team")
    poster, asker, boss = tg.user(920, "Poster"), tg.user(921, "Asker"), tg.user(922, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    private = tg.private_chat(poster)
    data, words, total = media.voice_note(3)
    expected = expected_lines(words, mistral.vocabulary)
    async with run_bot(LIVE_TRANSCRIPTS=True):
        auto = tg.send_voice(group, poster, data, duration=round(total))
        quiet = await tg.wait_for(lambda: final(tg, GROUP, auto["message_id"], len(expected)))
        off = tg.send_text(group, boss, "/autotranscribe off")
        await tg.wait_for(lambda: tg.replies_to(GROUP, off["message_id"]))
        note = tg.send_voice(group, poster, data, duration=round(total))
        tg.send_text(group, asker, "/transcribe", reply_to_message=note)
        asked = await tg.wait_for(lambda: final(tg, GROUP, note["message_id"], len(expected)))
        # The same bot, in the poster's private chat: live.
        mine = tg.send_voice(private, poster, data, duration=round(total))
        await tg.wait_for(lambda: final(tg, private["id"], mine["message_id"], len(expected)))
    # Auto mode: the transcript alone; on request: the status message edited into it.
    assert (quiet.text or "").splitlines() == expected and quiet.edits == 0
    assert (asked.text or "").splitlines() == expected and asked.edits > 0
    # Drafts and streaming went to the private chat only.
    assert tg.drafts and {d.chat_id for d in tg.drafts} == {private["id"]}
    assert {str(r.params["chat_id"]) for r in tg.calls("sendMessageDraft")} == {str(private["id"])}
    assert [c.stream for c in mistral.transcriptions] == [False, False, True]


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [
        (429, "Too Many Requests: retry after 10", 10),
        (400, "Bad Request: TEXTDRAFT_PEER_INVALID", None),
    ],
)
async def test_failing_drafts_do_not_hold_up_the_transcript(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
    retry_after: int | None,
) -> None:
    mistral.stream_first_delay, mistral.stream_gap = 0.3, 0.2
    tg.fail_next(
        "sendMessageDraft",
        status=status,
        description=description,
        retry_after=retry_after,
        times=100,
    )
    data, words, total = media.voice_note(4)
    expected = expected_lines(words, mistral.vocabulary)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    caplog.set_level(logging.INFO, logger="bot.telegram.drafts")
    async with run_bot(LIVE_TRANSCRIPTS=True):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        message = await tg.wait_for(
            lambda: final(tg, chat["id"], note["message_id"], len(expected))
        )
    assert (message.text or "").splitlines() == expected
    assert tg.bot_messages(chat["id"]) == [message]
    # Not delayed: a draft retried, or a 429 pausing the bot, would have cost 10 s.
    assert sent_at(tg, message) - tg.pushed_at(chat["id"], note["message_id"]) < 5.0
    # The refused draft was not tried again, and no later one followed within the pause.
    assert len(tg.calls("sendMessageDraft")) == 1
    assert not tg.drafts
    logged = [r for r in caplog.records if r.name == "bot.telegram.drafts"]
    assert logged and all(r.levelno == logging.INFO for r in logged)


async def test_a_refusal_after_admission_is_a_reply(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(LIVE_TRANSCRIPTS=True):
        note = tg.send_voice(chat, alice, b"this is no audio at all" * 40, duration=3)
        (reply,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
    assert reply.text == texts.of("en")(texts.UNREADABLE)
    assert tg.bot_messages(chat["id"]) == [reply] and reply.edits == 0
    assert not mistral.transcriptions
