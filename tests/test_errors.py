"""Bad input and failing APIs: a clear answer, nothing charged."""

from __future__ import annotations

import os
from pathlib import Path

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import expected_lines, job_statuses, transcript_of, usage_row

MB = 1024 * 1024


async def test_a_25_mb_voice_note_is_refused_without_download(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, _, total = media.voice_note(2)
    ivy = tg.user(700, "Ivy")
    chat = tg.private_chat(ivy)
    async with run_bot():
        note = tg.send_voice(chat, ivy, data, duration=round(total), file_size=25 * MB)
        (answer,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
    assert "25.0 MB" in (answer.text or "")
    assert "20 MB" in (answer.text or "")
    assert tg.calls("getFile") == []
    assert tg.downloads == []
    assert mistral.transcriptions == []
    assert usage_row(db_path, 700) == (0, 0)


async def test_corrupt_audio_gets_a_clear_answer_and_the_next_note_works(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    jack = tg.user(701, "Jack")
    chat = tg.private_chat(jack)
    data, words, total = media.voice_note(3)
    async with run_bot():
        bad = tg.send_voice(chat, jack, os.urandom(40_000), duration=7)
        failed = await tg.wait_for(lambda: transcript_of(tg, chat["id"], bad["message_id"]))
        assert "couldn't read any audio" in (failed[0].text or "")
        assert usage_row(db_path, 701) == (0, 0)
        # Uploaded while it was probed, as a 7 s note is; deleted unread.
        await mistral.wait_for(lambda: mistral.deleted, timeout=10)
        assert mistral.deleted == list(mistral.uploads)
        assert not mistral.transcriptions
        good = tg.send_voice(chat, jack, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], good["message_id"]))
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert mistral.transcriptions[-1].audio is not None or mistral.uploads
    assert job_statuses(db_path) == ["failed", "done"]
    assert usage_row(db_path, 701)[0] == mistral.transcriptions[-1].billed_seconds


async def test_a_non_audio_document_gets_a_short_answer(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    kim = tg.user(702, "Kim")
    chat = tg.private_chat(kim)
    async with run_bot():
        doc = tg.send_document(
            chat, kim, b"%PDF-1.4 not audio", file_name="cv.pdf", mime_type="application/pdf"
        )
        (answer,) = await tg.wait_for(lambda: tg.bot_messages(chat["id"]))
    assert "doesn't look like audio" in (answer.text or "")
    assert answer.message_id > doc["message_id"]
    assert tg.downloads == []


async def test_mistral_429_with_retry_after_is_waited_out(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(2)
    mistral.fail_transcriptions(429, times=2, retry_after=1)
    lee = tg.user(703, "Lee")
    chat = tg.private_chat(lee)
    async with run_bot():
        note = tg.send_voice(chat, lee, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert [c.status for c in mistral.transcriptions] == [429, 429, 200]


async def test_mistral_500_every_time_fails_cleanly(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, _, total = media.voice_note(2)
    mistral.fail_transcriptions(500, times=-1)
    max_ = tg.user(704, "Max")
    chat = tg.private_chat(max_)
    async with run_bot() as vox:
        note = tg.send_voice(chat, max_, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: not mistral.live_files)
        attempts = vox.tuning.mistral_retry.attempts
    assert "busy or unavailable" in (replies[0].text or "")
    assert "nothing was charged" in (replies[0].text or "")
    assert [c.status for c in mistral.transcriptions] == [500] * attempts
    assert len(mistral.uploads) == 1
    assert set(mistral.deleted) == set(mistral.uploads)
    assert usage_row(db_path, 704) == (0, 0)


async def test_bot_api_429_on_a_send_is_retried(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(2)
    tg.fail_next(
        "editMessageText", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    nat = tg.user(705, "Nat")
    chat = tg.private_chat(nat)
    async with run_bot():
        note = tg.send_voice(chat, nat, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert tg.count_429 == 1
    assert len(tg.calls("editMessageText")) == 2
