"""A note in a private chat comes back as a timestamped transcript."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from bot.transcription import audio, probing
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import (
    answer_to,
    expected_lines,
    transcript_lines,
    transcript_of,
    transcript_parts,
)
from tests.postgres import both_backends

pytestmark = both_backends


async def test_voice_note_gets_timestamped_transcript(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(4)
    alice = tg.user(11, "Alice")
    chat = tg.private_chat(alice)
    async with run_bot():
        note = tg.send_voice(chat, alice, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert replies[0].text is not None
        assert replies[0].text.splitlines() == expected_lines(words, mistral.vocabulary)
        # The audio reached Mistral through the Files API with purpose "audio" and a signed URL.
        (call,) = mistral.transcriptions
        assert call.source == "file_url"
        (file_id,) = mistral.uploads
        assert mistral.upload_purposes[file_id] == "audio"
        assert mistral.uploads[file_id] == data
        assert call.fields["timestamp_granularities"] == ["segment"]
        # …and was deleted once transcribed.
        await mistral.wait_for(lambda: file_id in mistral.deleted)
        assert mistral.live_files == set()
        assert not mistral.foreign_urls

        usage_cmd = tg.send_text(chat, alice, "/usage")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], usage_cmd["message_id"]))
        billed = mistral_billed(mistral)
        assert billed >= round(total) - 1
        assert f"You used {billed} s" in (answer.text or "")


async def test_the_note_uploads_while_it_is_probed_and_is_transcribed_from_that_upload(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload (not billed) runs beside the probe; the transcription (billed) waits for the
    probe and the quota's re-check, and reads that one upload."""
    data, words, total = media.voice_note(3)
    ida = tg.user(20, "Ida")
    chat = tg.private_chat(ida)
    uploaded = threading.Event()
    probe = probing.probe

    def probe_once_uploaded(path: Path) -> audio.AudioInfo:
        # A bot that uploads only once the probe is over never gets past this wait.
        assert uploaded.wait(timeout=10), "nothing was uploaded while the note was probed"
        return probe(path)

    monkeypatch.setattr(probing, "probe", probe_once_uploaded)
    async with run_bot():
        note = tg.send_voice(chat, ida, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.uploads, timeout=10)
        assert not mistral.signed_urls and not mistral.transcriptions  # still probing
        uploaded.set()
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: mistral.deleted, timeout=10)
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    (file_id,) = mistral.uploads
    assert mistral.uploads[file_id] == data
    (call,) = mistral.transcriptions
    assert (call.source, call.file_id, call.status) == ("file_url", file_id, 200)
    assert mistral.deleted == [file_id]


def mistral_billed(mistral: FakeMistral) -> int:
    return sum(c.billed_seconds for c in mistral.transcriptions if c.status == 200)


async def test_direct_mode_sends_the_file_itself(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    bob = tg.user(12, "Bob")
    chat = tg.private_chat(bob)
    async with run_bot(UPLOAD_MODE="direct"):
        note = tg.send_voice(chat, bob, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    assert replies[0].text is not None
    assert replies[0].text.splitlines() == expected_lines(words, mistral.vocabulary)
    (call,) = mistral.transcriptions
    assert call.source == "file"
    assert call.audio == data
    assert mistral.uploads == {}


async def test_audio_file_document_and_video_note(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    carol = tg.user(13, "Carol")
    chat = tg.private_chat(carol)
    words, total = media.script(3, first_index=10)
    samples = media.speech(words, total)
    async with run_bot():
        audio_msg = tg.send_audio(chat, carol, media.encode(samples, "mp3"), duration=round(total))
        doc_msg = tg.send_document(
            chat, carol, media.encode(samples, "m4a"), file_name="memo.m4a", mime_type=None
        )
        video_note = tg.send_video_note(chat, carol, media.video(samples), duration=round(total))
        for sent in (audio_msg, doc_msg, video_note):
            replies = await tg.wait_for(
                lambda s=sent: transcript_of(tg, chat["id"], s["message_id"])
            )
            assert replies[0].text is not None
            assert replies[0].text.splitlines() == expected_lines(words, mistral.vocabulary)
    # What Mistral got for the video note held audio and no video.
    assert len(mistral.transcriptions) == 3
    for upload in mistral.uploads.values():
        with av.open(__import__("io").BytesIO(upload)) as container:
            assert not container.streams.video
            assert len(container.streams.audio) == 1


async def test_long_transcript_with_markup_arrives_whole(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # 36 segments of ~300 characters with HTML specials, emoji and Cyrillic: ~11,000 chars, so
    # three full messages (past three the transcript comes as a file: test_reply_shape.py).
    mistral.vocabulary = [
        f"#{k} <b>не</b> & «тег» 🎙️👍🏽 " + ("Привет, мир & <друзья> 😀 " * 11) for k in range(100)
    ]
    # Words start at x.3 s, so timestamps are whole seconds away from rounding edges.
    words, total = media.script(36, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    dave = tg.user(14, "Dave")
    chat = tg.private_chat(dave)
    expected = expected_lines(words, mistral.vocabulary)
    assert sum(len(line) + 1 for line in expected) > 10_000
    async with run_bot():
        note = tg.send_voice(chat, dave, data, duration=round(total))
        lines = await tg.wait_for(
            lambda: transcript_lines(tg, chat["id"], note["message_id"], at_least=len(expected))
        )
        parts = transcript_parts(tg, chat["id"], note["message_id"]) or []
    assert len(parts) == 3
    assert lines == [line.strip() for line in expected]
    # Each part ended at a line boundary: no segment was cut across two messages.
    assert all(len(p.text or "") <= 4096 for p in parts)


async def test_the_transcript_does_not_wait_for_mistral_to_delete_its_copy(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    uli = tg.user(17, "Uli")
    chat = tg.private_chat(uli)
    mistral.hold_deletes()
    async with run_bot():
        note = tg.send_voice(chat, uli, data, duration=round(total))
        # The transcript arrives although Mistral holds every delete…
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: mistral.deletes_waiting == 1)
        assert mistral.live_files
        assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        mistral.release_deletes()
        # …and the copy is deleted once Mistral answers.
        await mistral.wait_for(lambda: not mistral.live_files)
    assert len(mistral.deleted) == 1


async def test_mistral_deletes_its_copy_once_the_transcript_is_out(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    """The delete waits for the transcript: its request would otherwise compete with the
    transcript's delivery for the bot's time."""
    data, words, total = media.voice_note(3)
    wim = tg.user(19, "Wim")
    chat = tg.private_chat(wim)
    async with run_bot():
        note = tg.send_voice(chat, wim, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: not mistral.live_files)
    (delete,) = [s for s in mistral.spans if s.route.startswith("DELETE")]
    (transcription,) = [s for s in mistral.spans if "transcriptions" in s.route]
    (sent,) = [r for r in tg.requests if r.method == "editMessageText"]
    assert transcription.end < sent.at < delete.start
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)


async def test_the_note_goes_to_mistral_while_its_status_message_is_still_on_its_way(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    vera = tg.user(18, "Vera")
    chat = tg.private_chat(vera)
    tg.hold("sendMessage")  # Telegram is slow to answer the status message
    async with run_bot():
        note = tg.send_voice(chat, vera, data, duration=round(total))
        await mistral.wait_for(lambda: any(c.status == 200 for c in mistral.transcriptions))
        # Transcribed while the status message was still unanswered…
        assert len(tg.calls("sendMessage")) == 1
        assert tg.bot_messages(chat["id"]) == []
        tg.release("sendMessage")
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    # …and the transcript still replaced the status message: one message, no stray status.
    assert len(tg.bot_messages(chat["id"])) == 1
    assert replies[0].edits >= 1
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
