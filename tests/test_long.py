"""Long audio and big files: cut at silences, sent in parallel, merged in order."""

from __future__ import annotations

import asyncio
import functools
import io
from dataclasses import replace
from pathlib import Path

import av
import pytest

from bot.i18n import texts
from bot.settings import UploadMode
from bot.transcription.mistral import MistralClient
from bot.transcription.slots import FairSlots, Owner
from bot.transcription.transcriber import Transcriber
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral, TranscriptionCall
from tests.fakes.telegram import FakeTelegram
from tests.helpers import (
    answer_to,
    as_db,
    expected_lines,
    job_statuses,
    transcript_lines,
    usage_row,
)

EN = texts.of("en")

# About 25 minutes: a one-second word every five seconds. Words start at x.2 s, so the m:ss a
# user sees is exact, and the pauses leave room for cuts that never fall inside a word.
LONG_WORDS = 300
LONG_SCRIPT = {"word_seconds": 1.0, "pause_seconds": 4.0, "lead": 0.2}


@functools.cache
def long_note() -> tuple[bytes, list[media.Word], float]:
    words, total = media.script(LONG_WORDS, **LONG_SCRIPT)
    return media.encode(media.speech(words, total, 16000), "ogg", 16000), words, total


def status_edits(tg: FakeTelegram, status_id: int) -> list[str]:
    return [
        str(r.params["text"])
        for r in tg.calls("editMessageText")
        if int(r.params["message_id"]) == status_id
    ]


async def test_25_minutes_are_cut_at_silences_and_come_back_whole_and_in_order(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, words, total = long_note()
    mistral.max_audio_seconds = 600
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    # Two slots: the recording is spread over them in chunks of the full CHUNK_SECONDS.
    settings = {"CHUNK_SECONDS": 600, "DEFAULT_QUOTA_SECONDS": 3600}
    async with run_bot(MAX_CONCURRENT_TRANSCRIPTIONS=2, **settings):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], note["message_id"], at_least=len(words)),
            timeout=120,
        )
    # Every word once, in order, at its own time: no cut fell inside a word.
    assert lines == expected_lines(words, mistral.vocabulary)
    calls = [c for c in mistral.transcriptions if c.status == 200]
    assert len(calls) == len(mistral.transcriptions) == 3
    assert all(c.audio_seconds is not None and c.audio_seconds <= 600 for c in calls)
    # The chunks cover the audio once: the user pays for its length, not more.
    billed = sum(c.billed_seconds for c in calls)
    assert abs(billed - total) <= len(calls)
    assert usage_row(db_path, alice["id"]) == (billed, 0)
    # The status message showed the progress before it became the transcript.
    status = tg.replies_to(chat["id"], note["message_id"])[0]
    progress = [t for t in status_edits(tg, status.message_id) if "parts done" in t]
    assert progress and progress[0] == EN.progress(1, 3)
    assert "parts done" not in (status.text or "")
    await mistral.wait_for(lambda: not mistral.live_files)
    assert list((db_path.parent / "work").glob("*/*")) == []  # one folder per process


@pytest.mark.parametrize(
    ("duration", "slots", "length"),
    [
        (1500, 2, 600),  # 780 s each would be over CHUNK_SECONDS
        (3600, 8, 480),  # one chunk per slot, with room for an early cut
        (7200, 16, 480),
        (1500, 8, 300),  # never shorter than MIN_CHUNK_SECONDS
    ],
)
def test_long_audio_is_spread_over_the_slots(duration: float, slots: int, length: float) -> None:
    transcriber = Transcriber(None, mode=UploadMode.FILES, limit=slots, chunk_seconds=600)  # type: ignore[arg-type]
    assert transcriber.chunk_length(duration) == pytest.approx(length)


async def test_spread_chunks_come_back_whole_and_in_order(
    mistral: FakeMistral, tmp_path: Path
) -> None:
    data, words, total = long_note()
    source = tmp_path / "long.ogg"
    source.write_bytes(data)
    client = MistralClient(mistral.base_url, mistral.api_key, "voxtral-mini-latest")
    try:
        transcriber = Transcriber(client, mode=UploadMode.DIRECT, limit=8, chunk_seconds=600)
        transcript = await transcriber.transcribe(source, tmp_path / "work", duration=total)
    finally:
        await client.aclose()
    assert [s.text for s in transcript.segments] == [mistral.vocabulary[w.index] for w in words]
    seconds = [c.audio_seconds or 0 for c in mistral.transcriptions]
    assert len(seconds) <= 8 and max(seconds) <= transcriber.chunk_length(total) + 0.1


async def test_chunk_times_are_shifted_to_within_half_a_second(
    mistral: FakeMistral, tmp_path: Path
) -> None:
    data, words, total = long_note()
    mistral.max_audio_seconds = 600
    source = tmp_path / "long.ogg"
    source.write_bytes(data)
    client = MistralClient(mistral.base_url, mistral.api_key, "voxtral-mini-latest")
    done: list[tuple[int, int]] = []
    mistral.gather(2)
    try:
        transcriber = Transcriber(client, mode=UploadMode.FILES, limit=2, chunk_seconds=600)
        transcript = await transcriber.transcribe(
            source,
            tmp_path / "work",
            duration=total,
            on_progress=lambda d, t: done.append((d, t)),
        )
    finally:
        await client.aclose()
    assert [s.text for s in transcript.segments] == [mistral.vocabulary[w.index] for w in words]
    pairs = list(zip(transcript.segments, words, strict=True))
    assert max(abs(s.start - w.start) for s, w in pairs) <= 0.5
    assert max(abs(s.end - w.end) for s, w in pairs) <= 0.5
    # The chunks ran side by side, never more than the bound, and progress counted each.
    assert mistral.max_in_flight == 2
    assert sorted(d for d, _ in done) == [1, 2, 3] and done[-1][1] == 3


async def test_a_chunk_that_always_fails_fails_the_note_and_charges_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, _, total = long_note()
    mistral.max_audio_seconds = 600

    def last_chunk(call: TranscriptionCall) -> bool:
        return call.audio_seconds is not None and call.audio_seconds < 500

    mistral.fail_when(last_chunk, status=500)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(CHUNK_SECONDS=600, DEFAULT_QUOTA_SECONDS=3600):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        reply = await tg.wait_for(
            lambda: answer_to(tg, chat["id"], note["message_id"]), timeout=120
        )
        await tg.wait_for(lambda: reply.text == texts.SERVICE_BUSY, timeout=120)
        await mistral.wait_for(lambda: not mistral.live_files)
    # The job was failed (and released) before the user was told.
    assert job_statuses(db_path) == ["failed"]
    assert usage_row(db_path, alice["id"]) == (0, 0)
    # The failing chunk was retried, and every chunk that was uploaded is deleted again.
    assert sum(1 for c in mistral.transcriptions if last_chunk(c)) >= 2
    assert mistral.uploads and set(mistral.uploads) <= set(mistral.deleted)
    assert not mistral.live_files
    # …and nothing of the audio or its chunks is left on disk.
    assert list((db_path.parent / "work").glob("*/*")) == []  # one folder per process


@functools.cache
def forty_minutes() -> bytes:
    words, _ = media.script(4, word_seconds=1.0, pause_seconds=1.0)
    return media.encode(media.speech(words, 2400.0, 16000), "ogg", 16000)


async def test_a_note_declared_short_but_really_long_is_refused_after_probing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    bob = tg.user(12, "Bob")
    chat = tg.private_chat(bob)
    async with run_bot(DEFAULT_QUOTA_SECONDS=600):
        note = tg.send_voice(chat, bob, forty_minutes(), duration=5)
        reply = await tg.wait_for(lambda: answer_to(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: reply.text != texts.STATUS)
        await mistral.wait_for(lambda: mistral.deleted, timeout=10)
    assert job_statuses(db_path) == ["failed"]
    # It was downloaded and probed (that is how the truth came out), then refused.
    assert tg.downloads
    assert "Not enough quota for this note (40 min)" in (reply.text or "")
    assert "you have 600 s" in (reply.text or "")
    assert_uploaded_unread(mistral, db_path)
    assert usage_row(db_path, bob["id"]) == (0, 0)


def assert_uploaded_unread(mistral: FakeMistral, db_path: Path) -> None:
    """Declared short, the note was uploaded while it was probed; refused, that upload was
    deleted (and its record with it) without a transcription, a signed URL or a charge."""
    assert len(mistral.uploads) == 1
    assert mistral.deleted == list(mistral.uploads)
    assert not mistral.live_files
    assert not mistral.transcriptions and not mistral.signed_urls
    assert as_db(db_path).rows("SELECT file_id FROM mistral_files") == []


@functools.cache
def two_minutes_claiming_none() -> tuple[bytes, float]:
    words, total = media.script(60, word_seconds=1.0, pause_seconds=1.0)
    m4a = media.encode(media.speech(words, total, 16000), "m4a", 16000)
    return media.mp4_claiming(m4a), total


async def test_a_container_claiming_less_than_it_holds_is_refused_before_anything_is_billed(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    """An M4A whose headers and timestamps say it lasts next to nothing, declared 2 s: the
    probe decodes 2 minutes, past MAX_AUDIO_SECONDS."""
    eve = tg.user(15, "Eve")
    chat = tg.private_chat(eve)
    data, total = two_minutes_claiming_none()
    async with run_bot(MAX_AUDIO_SECONDS=60):
        note = tg.send_audio(
            chat, eve, data, duration=2, file_name="memo.m4a", mime_type="audio/mp4"
        )
        reply = await tg.wait_for(lambda: answer_to(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: reply.text != texts.STATUS)
        await mistral.wait_for(lambda: mistral.deleted, timeout=10)
    assert reply.text == EN.too_long(total, 60)
    assert job_statuses(db_path) == ["failed"]
    assert_uploaded_unread(mistral, db_path)
    assert usage_row(db_path, eve["id"]) == (0, 0)


async def test_a_note_declared_too_long_is_refused_before_download(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, _ = media.voice_note(2)
    bob = tg.user(12, "Bob")
    chat = tg.private_chat(bob)
    async with run_bot(MAX_AUDIO_SECONDS=3600):
        note = tg.send_voice(chat, bob, data, duration=4 * 3600)
        reply = await tg.wait_for(lambda: answer_to(tg, chat["id"], note["message_id"]))
    assert reply.text == EN.too_long(4 * 3600, 3600)
    assert not tg.calls("getFile") and not tg.downloads
    assert not mistral.transcriptions


def streams(data: bytes) -> tuple[str, int]:
    """(audio codec, number of video streams) of a media file."""
    with av.open(io.BytesIO(data)) as container:
        return container.streams.audio[0].codec_context.codec.canonical_name, len(
            container.streams.video
        )


@pytest.mark.parametrize("codec", ["aac", "mp3"])
async def test_a_three_minute_video_sends_only_its_audio_untouched(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, codec: str
) -> None:
    words, _ = media.script(30, word_seconds=1.0, pause_seconds=5.0)
    clip = media.video(media.speech(words, 180.0), size=(64, 64), fps=5, audio_codec=codec)
    carol = tg.user(13, "Carol")
    chat = tg.private_chat(carol)
    async with run_bot():
        message = tg.send_video(chat, carol, clip, duration=180)
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], message["message_id"], at_least=len(words))
        )
    assert lines == expected_lines(words, mistral.vocabulary)
    (sent,) = mistral.uploads.values()
    assert streams(clip) == (codec, 1)
    assert streams(sent) == (codec, 0)
    # Copied, not re-encoded: the very packets of the video's audio track.
    assert media.audio_packets(sent) == media.audio_packets(clip)


@functools.cache
def fifty_megabytes() -> tuple[bytes, list[media.Word], float]:
    # 96 kHz PCM: 50 MB in under five minutes of audio.
    words, _ = media.script(40, word_seconds=1.0, pause_seconds=5.0)
    data = media.encode(media.speech(words, 273.0, 96000), "wav", 96000)
    assert len(data) > 50_000_000
    return data, words, 273.0


async def test_local_mode_transcribes_a_50_mb_file(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = fifty_megabytes()
    tg.local_mode = True
    dave = tg.user(14, "Dave")
    chat = tg.private_chat(dave)
    async with run_bot(TELEGRAM_LOCAL_MODE=True):
        message = tg.send_audio(
            chat, dave, data, duration=round(total), file_name="talk.wav", mime_type="audio/wav"
        )
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], message["message_id"], at_least=len(words)),
            timeout=60,
        )
    assert lines == expected_lines(words, mistral.vocabulary)
    # Read in place from the server's disk: nothing went over the file download route.
    assert tg.calls("getFile") and not tg.downloads
    (sent,) = mistral.uploads.values()
    assert len(sent) == len(data)


async def test_without_local_mode_a_50_mb_file_gets_the_way_to_lift_the_limit(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = fifty_megabytes()
    dave = tg.user(14, "Dave")
    chat = tg.private_chat(dave)
    async with run_bot():
        message = tg.send_audio(
            chat, dave, data, duration=round(total), file_name="talk.wav", mime_type="audio/wav"
        )
        reply = await tg.wait_for(lambda: answer_to(tg, chat["id"], message["message_id"]))
    assert reply.text == EN.too_big(len(data))
    assert "local Bot API server" in reply.text
    assert not tg.calls("getFile") and not tg.downloads
    assert not mistral.transcriptions


class WatchedSlots(FairSlots):
    """FairSlots that report each request for a slot, so a test can wait for the queue, and
    record to whom each slot went."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.requests: asyncio.Queue[Owner] = asyncio.Queue()
        self.grants: list[Owner] = []

    async def _acquire(self, owner: Owner) -> None:
        self.requests.put_nowait(owner)  # seen by the test once this request waits or holds
        await super()._acquire(owner)

    def _grant(self, owner: Owner) -> None:
        self.grants.append(owner)
        super()._grant(owner)


async def test_a_note_sent_during_a_long_one_takes_the_next_free_slot(
    mistral: FakeMistral, tmp_path: Path
) -> None:
    long_words, long_total = media.script(25, word_seconds=1.0, pause_seconds=3.0)
    long_file = tmp_path / "long.ogg"
    long_file.write_bytes(media.encode(media.speech(long_words, long_total), "ogg"))
    short_data, short_words, short_total = media.voice_note(2)
    short_file = tmp_path / "short.ogg"
    short_file.write_bytes(short_data)
    client = MistralClient(mistral.base_url, mistral.api_key, "voxtral-mini-latest")
    transcriber = Transcriber(client, mode=UploadMode.DIRECT, limit=2, chunk_seconds=30)
    slots = transcriber.slots = WatchedSlots(2)
    mistral.hang_next(60, times=2)
    try:
        long_job = asyncio.create_task(
            transcriber.transcribe(long_file, tmp_path / "a", duration=long_total)
        )
        # The long note's first two chunks hold both slots; its third waits for one.
        owners = {await slots.requests.get() for _ in range(3)}
        assert len(owners) == 1
        await mistral.wait_for(lambda: mistral.hanging == 2)
        short_job = asyncio.create_task(
            transcriber.transcribe(short_file, tmp_path / "b", duration=short_total)
        )
        while await slots.requests.get() in owners:
            pass  # more chunks may ask meanwhile: wait for the short note's request
        mistral.release_hangs()
        short = await short_job
        whole = await long_job
    finally:
        await client.aclose()
    assert [s.text for s in short.segments] == [mistral.vocabulary[w.index] for w in short_words]
    assert [s.text for s in whole.segments] == [mistral.vocabulary[w.index] for w in long_words]
    # After the two held chunks the short note went first, ahead of the long one's other chunks.
    assert len(slots.grants) >= 5
    assert slots.grants[:2] == [next(iter(owners))] * 2
    assert slots.grants[2] not in owners
    assert slots.grants[3:] == [next(iter(owners))] * (len(slots.grants) - 3)


@pytest.mark.parametrize("every", [0.0, 3600.0])
async def test_progress_edits_are_throttled(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, every: float
) -> None:
    words, total = media.script(25, word_seconds=1.0, pause_seconds=3.0)
    data = media.encode(media.speech(words, total), "ogg")
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot(replace(FAST, progress_every=every), CHUNK_SECONDS=30):
        note = tg.send_voice(chat, alice, data, duration=round(total))
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], note["message_id"], at_least=len(words))
        )
    assert lines == expected_lines(words, mistral.vocabulary)
    assert len(mistral.transcriptions) >= 3
    status = tg.replies_to(chat["id"], note["message_id"])[0]
    progress = [t for t in status_edits(tg, status.message_id) if "parts done" in t]
    # Every few seconds at most: with an hour between edits, only the transcript replaces it.
    assert bool(progress) == (every == 0)
