"""Telegram's limits are spent on what the user waits for: a ready transcript goes before
status messages, courtesy that would come late is skipped, a 429 is waited out."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from bot.i18n import texts
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram, RecordedRequest
from tests.helpers import Db, answer_to, expected_lines, job_statuses

GROUP = -100700
EDIT = "editMessageText"


def is_status(request: RecordedRequest) -> bool:
    return str(request.params.get("text", "")).startswith(texts.STATUS)


def sends(tg: FakeTelegram, chat_id: int) -> list[RecordedRequest]:
    """The bot's sendMessage and editMessageText calls to a chat, in the order Telegram got them."""
    return [
        r
        for r in tg.requests
        if r.method in ("sendMessage", EDIT) and r.params.get("chat_id") == chat_id
    ]


def skips(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.telegram.pacing" and "skipped" in r.getMessage()
    ]


async def test_in_a_group_burst_ready_transcripts_go_before_the_queued_status_messages(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.pacing")
    group = tg.group_chat(GROUP, "Busy")
    boss = tg.user(7000, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    posters = [tg.user(7001 + n, f"P{n}") for n in range(8)]
    data, words, total = media.voice_note(2)
    # Telegram may hold the first status message for a while: no timeout ends it here.
    tuning = dataclasses.replace(FAST, telegram_timeout=60.0)
    async with run_bot(tuning):
        off = tg.send_text(group, boss, "/autotranscribe off")
        await tg.wait_for(lambda: answer_to(tg, GROUP, off["message_id"]))
        notes = [tg.send_voice(group, p, data, duration=round(total)) for p in posters]
        # The first status message reaches Telegram and gets no answer yet: the group's other
        # status messages queue behind it while their notes are transcribed.
        tg.hold("sendMessage")
        for poster, note in zip(posters, notes, strict=True):
            tg.send_text(group, poster, "/transcribe", reply_to_message=note)
        await tg.wait_for(lambda: [r for r in tg.calls("sendMessage") if is_status(r)])
        # Seven transcripts go out while seven status messages are still queued.
        await tg.wait_for(lambda: len(transcripts(tg, notes)) == 7, timeout=20)
        tg.release("sendMessage")
        await tg.wait_for(lambda: all_transcribed(tg, notes))

    order = ["status" if is_status(r) else r.method for r in sends(tg, GROUP)]
    # After /autotranscribe's answer: one status message (the held one), the seven transcripts
    # as new replies, then that status message edited into the eighth. The queued status
    # messages were never sent.
    assert order[1:] == ["status"] + ["sendMessage"] * 7 + [EDIT]
    expected = expected_lines(words, mistral.vocabulary)
    for note in notes:
        (reply,) = tg.replies_to(GROUP, note["message_id"])
        assert (reply.text or "").splitlines() == expected
    assert len(skips(caplog)) == 7
    assert all("skipped (withdrawn)" in line for line in skips(caplog))


def transcripts(tg: FakeTelegram, notes: list[dict[str, Any]]) -> list[RecordedRequest]:
    """The transcripts sent as new replies to the notes."""
    ids = {n["message_id"] for n in notes}
    return [
        r
        for r in tg.calls("sendMessage")
        if not is_status(r) and (r.params.get("reply_parameters") or {}).get("message_id") in ids
    ]


def all_transcribed(tg: FakeTelegram, notes: list[dict[str, Any]]) -> bool:
    """Every note has its transcript and no status message is left."""
    replies = [tg.replies_to(GROUP, n["message_id"]) for n in notes]
    return all(len(r) == 1 and not (r[0].text or "").startswith(texts.STATUS) for r in replies)


async def test_a_status_message_that_would_come_late_is_skipped_and_the_transcript_arrives(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    database: Db,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ivy = tg.user(7100, "Ivy")
    chat = tg.private_chat(ivy)
    data, words, total = media.voice_note(2)
    # Flood control on the status message: a wait of three seconds, past its two-second bound.
    tg.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 3", retry_after=3
    )
    async with run_bot():
        note = tg.send_voice(chat, ivy, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
        await tg.wait_for(lambda: job_statuses(database) == ["done"])

    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert reply.edits == 0  # a new reply: no status message was there to edit
    assert ["status" if is_status(r) else r.method for r in sends(tg, chat["id"])] == [
        "status",  # the one Telegram answered 429
        "sendMessage",
    ]
    (line,) = skips(caplog)
    assert line.startswith(f"status job=1 chat={chat['id']} skipped (flood control)")
    lines = expected_lines(words, mistral.vocabulary)
    assert not any(line in r.getMessage() for r in caplog.records for line in lines)


FLOODS = {
    # Telegram's 429 on the transcript: the pacing waits retry_after and sends it again.
    "retried": (1, 3, 2),
    # Twice, with one retry allowed: the pacing gives up with one warning, and the delivery
    # waits retry_after in turn and sends it a third time.
    "given up, then delivered": (2, 1, 3),
}


@pytest.mark.parametrize("floods, max_retries, edits", FLOODS.values(), ids=FLOODS.keys())
async def test_flood_control_on_a_transcript_is_waited_out_and_it_is_delivered(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    database: Db,
    caplog: pytest.LogCaptureFixture,
    floods: int,
    max_retries: int,
    edits: int,
) -> None:
    caplog.set_level(logging.INFO)
    joe = tg.user(7200, "Joe")
    chat = tg.private_chat(joe)
    data, words, total = media.voice_note(2)
    tuning = dataclasses.replace(FAST, telegram_max_retries=max_retries)
    tg.fail_next(
        EDIT,
        status=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        times=floods,
    )
    async with run_bot(tuning):
        note = tg.send_voice(chat, joe, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(database) == ["done"])

    (reply,) = tg.replies_to(chat["id"], note["message_id"])
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(tg.calls(EDIT)) == edits
    pacing = [r for r in caplog.records if r.name == "bot.telegram.pacing"]
    retries = [r for r in pacing if "paced calls wait 1s" in r.getMessage()]
    assert len(retries) == min(floods, max_retries)
    given_up = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if floods > max_retries:
        (warning,) = given_up
        assert (warning.name, warning.levelno, warning.exc_info) == (
            "bot.telegram.pacing",
            logging.WARNING,
            None,
        )
        assert "given up after 2 tries" in warning.getMessage()
    else:
        assert given_up == []
