"""MistralClient against the fake Mistral: streaming, diarization, context bias, models, chat."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.transcript import Segment
from bot.transcription.mistral import (
    MistralAuthError,
    MistralBadResponse,
    MistralBiasRefused,
    MistralClient,
    MistralRateLimited,
    MistralRejected,
    RetryPolicy,
)
from bot.transcription.mistral_wire import capabilities, chat_content
from tests import media
from tests.fakes.mistral import API_KEY, DEFAULT_VOCABULARY, FakeMistral

MODEL = "voxtral-mini-latest"
QUICK = RetryPolicy(attempts=3, initial=0.01, max_wait=1.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMistral]:
    async with FakeMistral() as server:
        yield server


@pytest.fixture
async def client(fake: FakeMistral) -> AsyncIterator[MistralClient]:
    mistral = MistralClient(fake.base_url, API_KEY, MODEL, retry=QUICK)
    yield mistral
    await mistral.aclose()


def note(tmp_path: Path, n_words: int = 4, **kw: float) -> tuple[Path, list[str], float]:
    """An Ogg voice note on disk: its path, the words it says and its length."""
    data, words, total = media.voice_note(n_words, **kw)
    path = tmp_path / "note.ogg"
    path.write_bytes(data)
    return path, [DEFAULT_VOCABULARY[w.index] for w in words], total


def dialogue(tmp_path: Path, *turns: tuple[int, int]) -> Path:
    """A note of turns (first word index, word count) with 1.5 s between turns."""
    words: list[media.Word] = []
    start = 0.3
    for first, count in turns:
        for i in range(count):
            words.append(media.Word(first + i, round(start, 6), 0.5))
            start += 0.9
        start += 1.1
    path = tmp_path / "dialogue.ogg"
    path.write_bytes(media.encode(media.speech(words, words[-1].end + 0.3), "ogg"))
    return path


class Collector:
    """An on_segment callback that notes each segment and when it came."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.segments: list[Segment] = []
        self.times: list[float] = []

    def __call__(self, segment: Segment) -> None:
        self.segments.append(segment)
        self.times.append(time.perf_counter() - self.started)


# --- streaming --------------------------------------------------------------------------------


async def test_stream_previews_segments_before_the_answer_ends(
    fake: FakeMistral, client: MistralClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path, names, total = note(tmp_path, 4)
    fake.stream_first_delay, fake.stream_gap = 0.5, 0.3
    seen = Collector()
    transcript = await client.transcribe(path=path, on_segment=seen)
    took = time.perf_counter() - seen.started

    assert [s.text for s in seen.segments] == names
    assert tuple(seen.segments) == transcript.segments
    assert 0.4 < seen.times[0] < took - 0.8  # the first segment came ~0.5 s in, long before the end
    assert seen.times == sorted(seen.times)
    assert transcript.billed_seconds == math.ceil(total)
    assert transcript.language == "en"
    assert transcript.timestamps
    (call,) = fake.transcriptions
    assert call.stream and call.fields["stream"] == ["true"]
    assert call.fields["timestamp_granularities"] == ["segment"]
    assert not any(name in caplog.text for name in names)  # segment text is never logged

    plain = await client.transcribe(path=path)
    assert plain == transcript
    assert "stream" not in fake.transcriptions[1].fields


async def test_stream_from_a_signed_url(
    fake: FakeMistral, client: MistralClient, tmp_path: Path
) -> None:
    path, _, _ = note(tmp_path, 2, first_index=30)
    url = await client.signed_url(await client.upload(path))
    seen = Collector()
    transcript = await client.transcribe(file_url=url, on_segment=seen)
    assert [s.text for s in seen.segments] == ["jupiter", "saturn"]
    assert transcript.text == "jupiter saturn"
    assert fake.transcriptions[0].source == "file_url"


@pytest.mark.parametrize("how", ["drop", "garbage", "end"])
async def test_broken_stream_falls_back_and_bills_once(
    fake: FakeMistral, client: MistralClient, tmp_path: Path, how: str
) -> None:
    path, names, total = note(tmp_path, 3)
    fake.break_stream_next(after_words=2, how=how)
    seen = Collector()
    transcript = await client.transcribe(path=path, on_segment=seen)

    assert [s.text for s in seen.segments] == names[:2]  # previewed before the break
    assert [s.text for s in transcript.segments] == names  # the plain request's answer
    stream, plain = fake.transcriptions
    assert (stream.stream, stream.broken, plain.stream, plain.status) == (True, how, False, 200)
    assert "stream" not in plain.fields
    assert transcript.billed_seconds == math.ceil(total)
    assert sum(c.billed_seconds for c in fake.transcriptions) == transcript.billed_seconds


async def test_stream_errors_before_it_starts_are_retried_or_typed(
    fake: FakeMistral, client: MistralClient, tmp_path: Path
) -> None:
    path, names, _ = note(tmp_path, 2)
    fake.fail_transcriptions(503)
    fake.fail_transcriptions(429, retry_after=0.05)
    seen = Collector()
    transcript = await client.transcribe(path=path, on_segment=seen)
    assert transcript.text == " ".join(names)
    assert [(c.status, c.stream) for c in fake.transcriptions] == [
        (503, False),
        (429, False),
        (200, True),
    ]
    assert all(c.fields["stream"] == ["true"] for c in fake.transcriptions)

    fake.fail_transcriptions(429, times=3, retry_after=0.01)  # QUICK: 3 attempts
    with pytest.raises(MistralRateLimited):
        await client.transcribe(path=path, on_segment=seen)

    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"not audio at all" * 64)
    with pytest.raises(MistralRejected) as refused:
        await client.transcribe(path=junk, on_segment=seen)
    assert refused.value.status == 400
    assert len(seen.segments) == 2


async def test_stream_with_a_pinned_language(client: MistralClient, tmp_path: Path) -> None:
    path, _, _ = note(tmp_path, 2)
    url = await client.signed_url(await client.upload(path))
    seen = Collector()
    transcript = await client.transcribe(file_url=url, language="fr", on_segment=seen)
    assert seen.segments == []  # no segment events without timestamps: text deltas only
    assert transcript.text == "alpha bravo"
    assert not transcript.timestamps
    assert transcript.language == "fr"


# --- diarization ------------------------------------------------------------------------------


async def test_diarize_names_speakers(
    fake: FakeMistral, client: MistralClient, tmp_path: Path
) -> None:
    path = dialogue(tmp_path, (2, 2), (70, 1), (4, 1))
    transcript = await client.transcribe(path=path, diarize=True)
    assert [(s.text, s.speaker) for s in transcript.segments] == [
        ("charlie", "speaker_1"),
        ("delta", "speaker_1"),
        ("melon", "speaker_2"),
        ("echo", "speaker_1"),
    ]
    assert fake.transcriptions[0].fields["diarize"] == ["true"]

    seen = Collector()
    streamed = await client.transcribe(path=path, diarize=True, on_segment=seen)
    assert streamed == transcript
    assert [s.speaker for s in seen.segments] == [
        "speaker_1",
        "speaker_1",
        "speaker_2",
        "speaker_1",
    ]

    plain = await client.transcribe(path=path)
    assert all(s.speaker is None for s in plain.segments)
    assert "diarize" not in fake.transcriptions[-1].fields
    with pytest.raises(ValueError, match="diarize"):
        await client.transcribe(path=path, language="en", diarize=True)


# --- context bias -----------------------------------------------------------------------------


async def test_context_bias_is_sent_as_repeated_fields(
    fake: FakeMistral, client: MistralClient, tmp_path: Path
) -> None:
    fake.vocabulary[1] = "Voxtral"
    fake.mishear = {"Voxtral": "box trawl"}
    path, _, _ = note(tmp_path, 3)
    assert (await client.transcribe(path=path)).text == "alpha box trawl charlie"
    transcript = await client.transcribe(path=path, context_bias=["Voxtral", "Mistral"])
    assert transcript.text == "alpha Voxtral charlie"
    assert fake.transcriptions[1].fields["context_bias"] == ["Voxtral", "Mistral"]
    streamed = await client.transcribe(path=path, context_bias=("Voxtral",), on_segment=Collector())
    assert streamed.text == "alpha Voxtral charlie"
    assert "context_bias" not in fake.transcriptions[0].fields
    assert [c.status for c in fake.transcriptions] == [200, 200, 200]


@pytest.mark.parametrize(
    "terms",
    [["two words"], ["a,b"], [""], ["tab\tin"], [f"t{i}" for i in range(101)], "Voxtral"],
)
async def test_context_bias_is_checked_before_sending(
    fake: FakeMistral, client: MistralClient, tmp_path: Path, terms: list[str]
) -> None:
    path, _, _ = note(tmp_path, 1)
    with pytest.raises(ValueError, match="context_bias"):
        await client.transcribe(path=path, context_bias=terms)
    assert fake.transcriptions == []
    await client.transcribe(path=path, context_bias=[f"t{i}" for i in range(100)])
    assert len(fake.transcriptions[0].fields["context_bias"]) == 100


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_context_bias_raises_bias_refused(
    fake: FakeMistral, client: MistralClient, tmp_path: Path, stream: bool
) -> None:
    path, names, _ = note(tmp_path, 2)
    fake.refuse_context_bias = True
    on_segment = Collector() if stream else None
    with pytest.raises(MistralBiasRefused) as refused:
        await client.transcribe(path=path, context_bias=["Voxtral"], on_segment=on_segment)
    assert isinstance(refused.value, MistralRejected)
    assert refused.value.status == 422
    assert len(fake.transcriptions) == 1  # not retried
    # What the caller does next: ask again without it.
    transcript = await client.transcribe(path=path, on_segment=on_segment)
    assert transcript.text == " ".join(names)


async def test_other_422_is_not_a_bias_refusal(client: MistralClient, tmp_path: Path) -> None:
    path, _, _ = note(tmp_path, 1)
    with pytest.raises(MistralRejected) as refused:
        await client.transcribe(path=path, language="english", context_bias=["Voxtral"])
    assert not isinstance(refused.value, MistralBiasRefused)
    assert refused.value.status == 422


# --- models and chat --------------------------------------------------------------------------


async def test_model_capabilities(fake: FakeMistral, client: MistralClient) -> None:
    assert "audio_transcription" in (await client.model_capabilities(MODEL) or set())
    small = await client.model_capabilities("mistral-small-latest")
    assert small is not None and "completion_chat" in small and "audio_transcription" not in small
    assert await client.model_capabilities("voxtral-nonexistent") is None
    fake.models = {"voxtral-mini-2602": {"audio_transcription"}}
    assert await client.model_capabilities("voxtral-mini-2602") == {"audio_transcription"}
    assert await client.model_capabilities(MODEL) is None
    assert fake.route_counts["GET /v1/models"] == 5


def test_capabilities_read_a_bare_list_and_aliases() -> None:
    cards = [
        {"id": "voxtral-mini-2507", "aliases": ["voxtral-mini-latest"], "capabilities": {}},
        {"id": "x", "capabilities": {"audio_transcription": True, "vision": False}},
    ]
    assert capabilities(cards, "voxtral-mini-latest") == set()
    assert capabilities({"data": cards}, "x") == {"audio_transcription"}
    assert capabilities({"data": cards}, "y") is None
    with pytest.raises(ValueError):
        capabilities({"object": "list"}, "x")


async def test_chat_returns_the_content(
    fake: FakeMistral, client: MistralClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transcript = "alpha bravo charlie delta"
    messages = [
        {"role": "system", "content": "Summarize this voice note."},
        {"role": "user", "content": transcript},
    ]
    fake.fail_chats(503)
    answer = await client.chat(messages, model="mistral-small-latest")
    assert answer == "SUMMARY(4): alpha bravo charlie delta"
    assert [c.status for c in fake.chats] == [503, 200]
    assert fake.chats[-1].model == "mistral-small-latest"
    assert fake.chats[-1].messages == messages
    assert transcript not in caplog.text and "SUMMARY" not in caplog.text

    translate = [
        {"role": "system", "content": "Translate the user's text into German."},
        {"role": "user", "content": transcript},
    ]
    assert await client.chat(translate, model="mistral-small-latest") == f"[de] {transcript}"


async def test_chat_errors_are_typed(fake: FakeMistral, client: MistralClient) -> None:
    messages = [{"role": "user", "content": "hello"}]
    with pytest.raises(MistralRejected) as refused:
        await client.chat(messages, model="no-such-model")
    assert refused.value.status == 400
    fake.fail_chats(429, times=-1, retry_after=0.01)
    with pytest.raises(MistralRateLimited):
        await client.chat(messages, model=MODEL)
    assert [c.status for c in fake.chats][-3:] == [429, 429, 429]  # QUICK: 3 attempts
    wrong = MistralClient(fake.base_url, "wrong-key", MODEL, retry=QUICK)
    with pytest.raises(MistralAuthError):
        await wrong.chat(messages, model=MODEL)
    await wrong.aclose()


def test_chat_content_reads_text_chunks() -> None:
    chunks = [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]
    assert chat_content({"choices": [{"message": {"content": chunks}}]}) == "ab"
    with pytest.raises(ValueError):
        chat_content({"choices": []})


async def test_chat_answer_without_content_is_a_bad_response(
    fake: FakeMistral, client: MistralClient
) -> None:
    fake.fail_chats(200, body='{"choices": []}')
    with pytest.raises(MistralBadResponse):
        await client.chat([{"role": "user", "content": "x"}], model=MODEL)
