"""A made transcript reaches its chat: flood control is waited out, passing trouble retried, a
refusal for good ends the job, and a restart in the middle still delivers it, charged once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import texts
from bot.jobs.delivering import Delivered, DeliveryRetry, deliver
from bot.jobs.ports import DeliveryDeferred, DeliveryRefused
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram
from tests.helpers import (
    bot_env,
    bot_process,
    expected_lines,
    job_statuses,
    transcript_of,
    transcript_parts,
    usage_row,
)

EDIT = "editMessageText"


def billed(mistral: FakeMistral) -> list[int]:
    """Seconds Mistral billed, one entry per answered transcription."""
    return [c.billed_seconds for c in mistral.transcriptions if c.status == 200]


def job_errors(db_path: Path) -> list[str | None]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT error FROM jobs ORDER BY id")]


def answered(tg: FakeTelegram, chat_id: int, note_id: int) -> list[BotMessage] | None:
    """The bot's replies to a note once none of them is a status message any more."""
    replies = tg.replies_to(chat_id, note_id)
    if replies and not any((r.text or "").startswith(texts.STATUS) for r in replies):
        return replies
    return None


async def test_four_notes_at_once_under_private_flood_control_all_arrive(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    tg.private_pacing = 1.0
    # PTB's rate limiter gives up after one retry: the delivery's own waiting carries on.
    tuning = dataclasses.replace(FAST, telegram_max_retries=1)
    uma = tg.user(2100, "Uma")
    chat = tg.private_chat(uma)
    recordings = [media.voice_note(n) for n in (1, 2, 3, 2)]
    async with run_bot(tuning=tuning):
        notes = [
            (tg.send_voice(chat, uma, data, duration=round(total)), words)
            for data, words, total in recordings
        ]
        await tg.wait_for(
            lambda: (
                all(answered(tg, chat["id"], n["message_id"]) for n, _ in notes)
                and job_statuses(db_path) == ["done"] * 4
            ),
            timeout=90,
        )
    assert tg.count_429 > 0  # the pacing was hit
    for note, words in notes:
        (reply,) = answered(tg, chat["id"], note["message_id"]) or []
        assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert not [m for m in tg.bot_messages(chat["id"]) if texts.STATUS in (m.text or "")]
    assert len(billed(mistral)) == len(mistral.transcriptions) == 4
    assert usage_row(db_path, uma["id"]) == (sum(billed(mistral)), 0)


def bad_gateway(tg: FakeTelegram) -> None:
    tg.fail_next(EDIT, status=502, description="Bad Gateway")


PASSING = {
    "502": (bad_gateway, FAST),
    "dropped connection": (lambda tg: tg.drop_next(EDIT), FAST),
    "hang": (
        lambda tg: tg.hang_next(EDIT),
        dataclasses.replace(FAST, telegram_timeout=2.0),
    ),
}


@pytest.mark.parametrize("inject, tuning", PASSING.values(), ids=PASSING.keys())
async def test_passing_trouble_on_the_transcript_edit_is_retried(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    db_path: Path,
    inject: Any,
    tuning: Any,
) -> None:
    data, words, total = media.voice_note(2)
    vera = tg.user(2200, "Vera")
    chat = tg.private_chat(vera)
    inject(tg)
    async with run_bot(tuning=tuning):
        note = tg.send_voice(chat, vera, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: job_statuses(db_path) == ["done"])
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(tg.calls(EDIT)) == 2
    assert len(tg.bot_messages(chat["id"])) == 1
    assert usage_row(db_path, vera["id"]) == (billed(mistral)[0], 0)


async def test_a_retry_sends_only_the_parts_not_yet_out(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    # Eighteen segments of ~520 characters: three messages.
    mistral.vocabulary = [f"Part {k} " + "words and more words, " * 23 for k in range(100)]
    words, total = media.script(18, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    walt = tg.user(2300, "Walt")
    chat = tg.private_chat(walt)
    async with run_bot():
        note = tg.send_voice(chat, walt, data, duration=round(total))
        await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
        # The status message is out: the next sendMessage is the transcript's second part.
        tg.fail_next("sendMessage", status=502, description="Bad Gateway")
        tg.drop_next("sendMessage")
        await tg.wait_for(lambda: job_statuses(db_path) == ["done"])
    parts = transcript_parts(tg, chat["id"], note["message_id"]) or []
    assert len(parts) == 3
    lines = [line for part in parts for line in (part.text or "").splitlines()]
    assert lines == [line.strip() for line in expected_lines(words, mistral.vocabulary)]
    assert len(tg.calls(EDIT)) == 1  # the first part went out once
    assert len(tg.bot_messages(chat["id"])) == 3  # and no other part twice
    assert usage_row(db_path, walt["id"]) == (billed(mistral)[0], 0)


REFUSALS = {
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "deactivated": (403, "Forbidden: user is deactivated"),
    "chat not found": (400, "Bad Request: chat not found"),
}


@pytest.mark.parametrize("status, description", REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_refusal_for_good_ends_the_job_without_more_tries(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    db_path: Path,
    status: int,
    description: str,
) -> None:
    data, _, total = media.voice_note(2)
    xia = tg.user(2400, "Xia")
    chat = tg.private_chat(xia)
    bad_gateway(tg)  # passing trouble first: retried…
    tg.fail_next(EDIT, status=status, description=description)  # …until the refusal
    async with run_bot():
        note = tg.send_voice(chat, xia, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(db_path) == ["done"])
        # Another note goes through: nothing of the first is tried again meanwhile.
        tg.send_voice(chat, xia, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(db_path) == ["done", "done"])
    assert [int(r.params["message_id"]) for r in tg.calls(EDIT)][:2] == [note["message_id"] + 1] * 2
    assert len(tg.calls(EDIT)) == 3
    assert len(tg.calls("sendMessage")) == 2  # the two status messages: none sent anew
    # The transcript was made, so it is paid for.
    assert usage_row(db_path, xia["id"]) == (sum(billed(mistral)), 0)


async def test_past_the_bound_the_job_fails_undelivered_and_workers_go_on(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    tuning = dataclasses.replace(
        FAST, delivery_retry=DeliveryRetry(bound=6.0, initial=0.1, max_wait=0.5)
    )
    data, words, total = media.voice_note(2)
    # One Mistral slot: four workers. Four notes stuck in delivery would hold them all.
    stuck = [tg.user(2500 + n, f"S{n}") for n in range(4)]
    chats = [tg.private_chat(u) for u in stuck]
    for chat in chats:
        tg.fail_next(EDIT, status=502, description="Bad Gateway", times=10_000, chat_id=chat["id"])
    yan = tg.user(2510, "Yan")
    free = tg.private_chat(yan)
    async with run_bot(tuning=tuning, MAX_CONCURRENT_TRANSCRIPTIONS=1):
        for chat, user in zip(chats, stuck, strict=True):
            tg.send_voice(chat, user, data, duration=round(total))
        await tg.wait_for(
            lambda: {int(r.params["chat_id"]) for r in tg.calls(EDIT)} >= {c["id"] for c in chats}
        )
        note = tg.send_voice(free, yan, data, duration=round(total))
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, free["id"], note["message_id"]))
        await tg.wait_for(lambda: job_statuses(db_path)[4:] == ["done"])
        # Served while the four are still being retried.
        assert job_statuses(db_path) == ["running"] * 4 + ["done"]
        await tg.wait_for(lambda: job_statuses(db_path) == ["failed"] * 4 + ["done"])
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert job_errors(db_path) == ["undelivered"] * 4 + [None]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len([m for m in errors if "undelivered" in m]) == 4
    # Transcribed, so charged, though never seen: each once.
    for user, seconds in zip([*stuck, yan], billed(mistral), strict=True):
        assert usage_row(db_path, user["id"]) == (seconds, 0)


@pytest.mark.parametrize("retention", [24, 0])
async def test_a_stop_during_retries_delivers_after_the_restart_charged_once(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path, retention: int
) -> None:
    tuning = dataclasses.replace(FAST, telegram_timeout=1.0)
    data, words, total = media.voice_note(3)
    zoe = tg.user(2600, "Zoe")
    chat = tg.private_chat(zoe)
    tg.hold(EDIT)  # Telegram takes the edits and never answers: each times out
    settings = {"TRANSCRIPT_RETENTION_HOURS": retention, "SHUTDOWN_GRACE_SECONDS": 1}
    async with run_bot(tuning=tuning, **settings):
        note = tg.send_voice(chat, zoe, data, duration=round(total))
        await tg.wait_for(lambda: len(tg.calls(EDIT)) >= 2, timeout=60)
    assert transcript_of(tg, chat["id"], note["message_id"]) is None
    assert job_statuses(db_path) == ["queued"]
    tg.release(EDIT)
    async with run_bot(tuning=tuning, **settings):
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: job_statuses(db_path) == ["done"])
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    # Retained: sent again from the database; not retained: transcribed again, not charged.
    assert len(billed(mistral)) == (1 if retention else 2)
    assert usage_row(db_path, zoe["id"]) == (billed(mistral)[0], 0)


async def test_a_kill_during_retries_delivers_after_the_restart_charged_once(
    tg: FakeTelegram, mistral: FakeMistral, db_path: Path, tmp_path: Path
) -> None:
    env = bot_env(tg, mistral, db_path)
    data, words, total = media.voice_note(3)
    ada = tg.user(2700, "Ada")
    chat = tg.private_chat(ada)
    tg.fail_next(EDIT, status=502, description="Bad Gateway", times=3)
    async with bot_process(env, tmp_path) as first:
        note = tg.send_voice(chat, ada, data, duration=round(total))
        # Two tries failed: the third waits for its backoff (a second or more) when killed.
        await tg.wait_for(lambda: len(tg.calls(EDIT)) >= 2)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert transcript_of(tg, chat["id"], note["message_id"]) is None
    async with bot_process(env, tmp_path) as second:
        (reply,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: job_statuses(db_path) == ["done"])
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=20)
    assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(billed(mistral)) == 1
    assert usage_row(db_path, ada["id"]) == (billed(mistral)[0], 0)


class Scripted:
    """A Delivery whose deliver() raises the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def deliver(self, job: Any, transcript: Any, retained_id: Any) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def a_job() -> Any:
    return dataclasses.make_dataclass("J", [("id", int), ("chat_id", int)])(1, 2)


async def run_scripted(delivery: Scripted, retry: DeliveryRetry) -> tuple[Delivered, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    outcome = await deliver(delivery, a_job(), None, None, retry, sleep=sleep)
    return outcome, waits


async def test_flood_control_is_waited_out_exactly_and_as_often_as_asked() -> None:
    delivery = Scripted(*[DeliveryDeferred("flood control", 7.0) for _ in range(5)])
    outcome, waits = await run_scripted(delivery, DeliveryRetry())
    assert outcome is Delivered.SENT
    assert waits == [7.0] * 5
    assert delivery.calls == 6


async def test_passing_trouble_backs_off_capped_with_jitter() -> None:
    delivery = Scripted(*[DeliveryDeferred("NetworkError: Bad Gateway") for _ in range(8)])
    outcome, waits = await run_scripted(delivery, DeliveryRetry(initial=1.0, max_wait=10.0))
    assert outcome is Delivered.SENT
    ceilings = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))


async def test_a_wait_past_the_bound_gives_up_at_once() -> None:
    delivery = Scripted(DeliveryDeferred("flood control", 120.0))
    outcome, waits = await run_scripted(delivery, DeliveryRetry(bound=60.0))
    assert outcome is Delivered.TIMED_OUT
    assert waits == []


@pytest.mark.parametrize("gone, outcome", [(True, Delivered.GONE), (False, Delivered.REFUSED)])
async def test_a_refusal_is_not_retried(gone: bool, outcome: Delivered) -> None:
    delivery = Scripted(DeliveryRefused("Forbidden", gone=gone))
    assert await run_scripted(delivery, DeliveryRetry()) == (outcome, [])
    assert delivery.calls == 1
