"""Batch mode: notes longer than BATCH_OVER_SECONDS go to one Mistral batch job, half price."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from typing import Any

from bot.i18n import texts
from bot.jobs.batching import BatchPolling
from tests import media
from tests.conftest import ADMIN_ID, FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, answer_to, expected_lines, job_statuses, transcript_lines, usage_row
from tests.test_forgetme import forget

EN = texts.of("en")
TUNING = replace(FAST, batch_polling=BatchPolling(first=0.1, factor=1.5, cap=0.4))
# Three chunks of at most 30 s: a one-second word every five seconds, 75 s in all.
BATCH = {"BATCH_OVER_SECONDS": 40, "CHUNK_SECONDS": 30, "DEFAULT_QUOTA_SECONDS": 3600}
WORDS = 15


@functools.cache
def long_note() -> tuple[bytes, list[media.Word], float]:
    return media.voice_note(WORDS, word_seconds=1.0, pause_seconds=4.0, lead=0.2)


def run(run_bot: RunBot, **overrides: Any) -> Any:
    return run_bot(TUNING, **{**BATCH, **overrides})


async def transcript(tg: FakeTelegram, chat: dict[str, Any], note: dict[str, Any]) -> list[str]:
    lines = await tg.wait_for(
        lambda: transcript_lines(tg, chat["id"], note["message_id"], at_least=WORDS), timeout=60
    )
    assert lines is not None
    return lines


def batch_seconds(database: Db, user_id: int) -> int:
    ((seconds,),) = database.rows(
        "SELECT COALESCE(SUM(batch_seconds), 0) FROM usage WHERE user_id = ?", (user_id,)
    )
    return int(seconds)


async def test_a_long_note_goes_to_one_batch_job_and_comes_back_whole(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = long_note()
    mistral.batches.queued_seconds = 0.3
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run(run_bot):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        status = await tg.wait_for(
            lambda: next(
                (
                    m
                    for m in tg.replies_to(chat["id"], note["message_id"])
                    if "batch" in (m.text or "")
                ),
                None,
            )
        )
        assert status.text == EN(texts.BATCH_QUEUED).format(hours=24)
        lines = await transcript(tg, chat, note)
    # Every word once, in order, at its own time in the whole recording.
    assert lines == expected_lines(words, mistral.vocabulary)
    # One batch job, one line per chunk, and nothing transcribed synchronously.
    assert len(mistral.batches.created) == 1
    job = mistral.batches.created[0]
    assert job.endpoint == "/v1/audio/transcriptions"
    assert [r["custom_id"] for r in job.requests] == ["chunk-0", "chunk-1", "chunk-2"]
    assert all(r["body"]["timestamp_granularities"] == ["segment"] for r in job.requests)
    assert mistral.transcriptions == []
    billed = sum(c.billed_seconds for c in mistral.batch_transcriptions)
    assert abs(billed - total) <= 3
    assert usage_row(database, alice["id"]) == (billed, 0)
    assert batch_seconds(database, alice["id"]) == billed
    assert job_statuses(database) == ["done"]
    # The audio, the output file: nothing is left at Mistral.
    assert job.output_file in mistral.deleted
    assert mistral.live_files == set()
    assert database.rows("SELECT file_id FROM mistral_files") == []


async def test_a_short_note_stays_synchronous(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    bob = tg.user(12, "Bob")
    chat = tg.private_chat(bob)
    async with run(run_bot):
        note = tg.send_voice(chat, bob, data, duration=round(total))
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], note["message_id"], at_least=len(words))
        )
    assert lines == expected_lines(words, mistral.vocabulary)
    assert mistral.batches.created == []
    assert len(mistral.transcriptions) == 1


async def test_a_restart_while_the_batch_runs_resumes_it_without_a_second_job(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = long_note()
    mistral.batches.queued_seconds = 3.0
    carol = tg.user(13, "Carol")
    chat = tg.private_chat(carol)
    async with run(run_bot):
        note = tg.send_voice(chat, carol, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(database) == ["waiting_batch"], timeout=30)
    assert len(mistral.batches.created) == 1
    job = mistral.batches.created[0]
    # The stop left the batch running, and the uploads it reads with it.
    assert job.status in ("QUEUED", "RUNNING")
    uploaded = {r["body"]["file_id"] for r in job.requests}
    assert uploaded <= mistral.live_files
    await asyncio.sleep(0)
    async with run(run_bot):
        lines = await transcript(tg, chat, note)
    assert lines == expected_lines(words, mistral.vocabulary)
    assert len(mistral.batches.created) == 1
    assert mistral.transcriptions == []
    # Every line ran on its audio: none was deleted under the running batch.
    assert all(c.status == 200 for c in mistral.batch_transcriptions)
    billed = sum(c.billed_seconds for c in mistral.batch_transcriptions)
    assert usage_row(database, carol["id"]) == (billed, 0)
    assert mistral.live_files == set()


async def test_a_batch_created_but_not_recorded_is_found_by_its_metadata(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = long_note()
    mistral.batches.queued_seconds = 3.0
    dan = tg.user(14, "Dan")
    chat = tg.private_chat(dan)
    async with run(run_bot):
        note = tg.send_voice(chat, dan, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(database) == ["waiting_batch"], timeout=30)
    # As if the process had died between creating the batch and recording its id.
    database.rows("UPDATE jobs SET batch_id = NULL")
    async with run(run_bot):
        lines = await transcript(tg, chat, note)
    assert lines == expected_lines(words, mistral.vocabulary)
    assert len(mistral.batches.created) == 1
    assert mistral.live_files == set()


async def test_a_failed_batch_falls_back_to_synchronous_requests_and_charges_once(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = long_note()
    mistral.batches.outcome = "FAILED"
    erin = tg.user(15, "Erin")
    chat = tg.private_chat(erin)
    async with run(run_bot):
        note = tg.send_voice(chat, erin, data, duration=round(total))
        lines = await transcript(tg, chat, note)
    assert lines == expected_lines(words, mistral.vocabulary)
    assert len(mistral.batches.created) == 1
    assert mistral.batch_transcriptions == []
    assert len(mistral.transcriptions) == 3
    billed = sum(c.billed_seconds for c in mistral.transcriptions)
    assert usage_row(database, erin["id"]) == (billed, 0)
    assert batch_seconds(database, erin["id"]) == 0
    assert mistral.live_files == set()


async def test_an_expired_batch_and_a_lost_line_are_sent_again_and_the_rest_stays_batched(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, words, total = long_note()
    mistral.batches.outcome = "TIMEOUT_EXCEEDED"
    mistral.batches.lines_before_timeout = 2
    mistral.batches.lose = {"chunk-0"}
    fay = tg.user(16, "Fay")
    chat = tg.private_chat(fay)
    async with run(run_bot):
        note = tg.send_voice(chat, fay, data, duration=round(total))
        lines = await transcript(tg, chat, note)
    assert lines == expected_lines(words, mistral.vocabulary)
    job = mistral.batches.created[0]
    assert job.status == "TIMEOUT_EXCEEDED"
    # chunk-0 was lost and chunk-2 never ran: those two synchronously, chunk-1 by the batch.
    assert len(mistral.batch_transcriptions) == 1
    assert len(mistral.transcriptions) == 2
    batched = mistral.batch_transcriptions[0].billed_seconds
    billed = batched + sum(c.billed_seconds for c in mistral.transcriptions)
    assert usage_row(database, fay["id"]) == (billed, 0)
    assert batch_seconds(database, fay["id"]) == batched
    # The output and the error file went too.
    assert {job.output_file, job.error_file} <= set(mistral.deleted)
    assert mistral.live_files == set()


async def test_usage_shows_the_batch_share_and_stats_the_saving(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _words, total = long_note()
    gus = tg.user(17, "Gus")
    chat = tg.private_chat(gus)
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    async with run(run_bot):
        note = tg.send_voice(chat, gus, data, duration=round(total))
        await transcript(tg, chat, note)
        billed = sum(c.billed_seconds for c in mistral.batch_transcriptions)
        cmd = tg.send_text(chat, gus, "/usage")
        usage = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
        cmd = tg.send_text(admin_chat, admin, "/stats")
        stats = await tg.wait_for(lambda: answer_to(tg, admin_chat["id"], cmd["message_id"]))
    first, second = (usage.text or "").splitlines()[:2]
    assert first.startswith(f"You used {billed} s")
    assert second == EN(texts.BATCH_SHARE).format(amount=EN._amount(billed))
    saved = EN._amount(billed // 2)
    assert EN(texts.STATS_BATCH).format(amount=EN._amount(billed), saved=saved) in (
        stats.text or ""
    )


async def test_forgetme_cancels_a_waiting_batch_and_its_files_go(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _words, total = long_note()
    mistral.batches.queued_seconds = 30.0
    hal = tg.user(18, "Hal")
    chat = tg.private_chat(hal)
    async with run(run_bot):
        note = tg.send_voice(chat, hal, data, duration=round(total))
        await tg.wait_for(lambda: job_statuses(database) == ["waiting_batch"], timeout=30)
        said = await forget(tg, hal, chat)
        assert said.startswith("Deleted")
        await tg.wait_for(lambda: not mistral.live_files, timeout=10)
    assert [j.status for j in mistral.batches.created] == ["CANCELLED"]
    assert mistral.batch_transcriptions == [] and mistral.transcriptions == []
    assert database.rows("SELECT id FROM jobs") == []
    assert database.rows("SELECT file_id FROM mistral_files") == []
    assert transcript_lines(tg, chat["id"], note["message_id"], at_least=WORDS) is None
