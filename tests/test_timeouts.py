"""Mistral's bounds follow the audio: a stalled request of a short note is cut off in seconds,
and a note's whole transcription has a deadline, past which it fails at no cost and frees its
slot."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from bot.i18n import texts
from bot.transcription.mistral_wire import Deadline, ReadTimeout
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import job_statuses, transcript_of, usage_row

TRANSCRIBE = "POST /v1/audio/transcriptions"


async def test_a_stalled_mistral_is_given_up_at_the_deadline_and_the_slot_freed(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    deadline = 2.0
    tuning = replace(FAST, transcription_deadline=Deadline(minimum=deadline, per_audio_second=0.1))
    data, _, total = media.voice_note(2)
    uma = tg.user(3200, "Uma")
    chat = tg.private_chat(uma)
    mistral.hang_next(600)  # the first transcription request never answers
    async with run_bot(tuning=tuning, MAX_CONCURRENT_TRANSCRIPTIONS=1):
        sent = time.monotonic()
        note = tg.send_voice(chat, uma, data, duration=round(total))
        (reply,) = await tg.wait_for(
            lambda: transcript_of(tg, chat["id"], note["message_id"]), timeout=deadline + 10
        )
        took = time.monotonic() - sent
        assert reply.text == texts.SERVICE_BUSY
        assert usage_row(db_path, uma["id"]) == (0, 0)  # nothing charged, nothing held
        # Mistral answers again: the one slot is free for the next note.
        again = tg.send_voice(chat, uma, data, duration=round(total))
        (done,) = await tg.wait_for(lambda: transcript_of(tg, chat["id"], again["message_id"]))
        mistral.release_hangs()
    assert deadline <= took < deadline + 5
    assert (done.text or "").startswith("0:00")
    assert job_statuses(db_path) == ["failed", "done"]
    assert usage_row(db_path, uma["id"])[0] == mistral.transcriptions[-1].billed_seconds
    assert not mistral.live_files  # the cut-off request's upload was deleted


async def test_a_request_waits_for_its_answer_as_long_as_its_audio_can_take(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # 0.3 s + 0.3 s per audio second: about 1 s for a 2-word note, 3.3 s for a 10-word one.
    tuning = replace(FAST, transcription_read=ReadTimeout(base=0.3, per_audio_second=0.3))
    eli = tg.user(3300, "Eli")
    chat = tg.private_chat(eli)
    async with run_bot(tuning=tuning):
        for words, expected_requests in ((10, 1), (2, 2)):
            data, _, total = media.voice_note(words)
            before = mistral.route_counts[TRANSCRIBE]
            mistral.hang_next(2.0)  # longer than the short note's bound, not the long one's
            note = tg.send_voice(chat, eli, data, duration=round(total))
            (reply,) = await tg.wait_for(
                lambda n=note: transcript_of(tg, chat["id"], n["message_id"])
            )
            assert (reply.text or "").startswith("0:00"), words
            assert mistral.route_counts[TRANSCRIBE] - before == expected_requests, words
