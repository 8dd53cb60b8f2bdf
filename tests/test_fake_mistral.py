"""The fake Mistral answers as the spec says and really hears the tone words it is sent."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests import media
from tests.fakes.mistral import API_KEY, DEFAULT_VOCABULARY, FakeMistral

MODEL = "voxtral-mini-latest"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMistral]:
    async with FakeMistral() as server:
        yield server


@pytest.fixture
async def client(fake: FakeMistral) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=30) as c:
        yield c


async def upload(client: httpx.AsyncClient, data: bytes, purpose: str = "audio") -> str:
    r = await client.post(
        "/v1/files", files={"file": ("note.ogg", data, "audio/ogg")}, data={"purpose": purpose}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def signed_url(client: httpx.AsyncClient, file_id: str) -> str:
    r = await client.get(f"/v1/files/{file_id}/url", params={"expiry": 24})
    assert r.status_code == 200, r.text
    return str(r.json()["url"])


async def transcribe(
    client: httpx.AsyncClient,
    *,
    data: bytes | None = None,
    timestamps: bool = True,
    **fields: str,
) -> httpx.Response:
    form: dict[str, Any] = {"model": MODEL, **fields}
    if timestamps:
        form["timestamp_granularities"] = ["segment"]
    files = {"file": ("audio.ogg", data, "audio/ogg")} if data is not None else None
    # A file part makes httpx send multipart, as the real client does; so does an empty part.
    return await client.post("/v1/audio/transcriptions", data=form, files=files or {"_": ("", b"")})


def assert_words(body: dict[str, Any], words: list[media.Word], tolerance: float = 0.15) -> None:
    names = [DEFAULT_VOCABULARY[w.index] for w in words]
    assert body["text"] == " ".join(names)
    assert [s["text"] for s in body["segments"]] == names
    for segment, word in zip(body["segments"], words, strict=True):
        assert segment["start"] == pytest.approx(word.start, abs=tolerance)
        assert segment["end"] == pytest.approx(word.end, abs=tolerance)
        assert segment["type"] == "transcription_segment"


async def test_upload_signed_url_and_transcription(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, words, total = media.voice_note(6, first_index=20)
    r = await client.post(
        "/v1/files", files={"file": ("note.ogg", data, "audio/ogg")}, data={"purpose": "audio"}
    )
    assert r.status_code == 200
    created = r.json()
    assert created["object"] == "file"
    assert created["purpose"] == "audio"
    assert created["bytes"] == len(data)
    assert created["filename"] == "note.ogg"
    assert created["source"] == "upload"
    assert isinstance(created["created_at"], int)
    file_id = created["id"]
    assert fake.uploads[file_id] == data
    assert fake.upload_purposes[file_id] == "audio"

    url = await signed_url(client, file_id)
    assert url.startswith(f"{fake.base_url}/signed/{file_id}?")
    assert "sig=" in url
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(url)).content == data
        assert (await anonymous.get(url.replace("sig=", "sig=x"))).status_code == 403

    r = await transcribe(client, file_url=url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == MODEL
    assert body["language"] == "en"
    assert_words(body, words)
    assert body["usage"]["prompt_audio_seconds"] == math.ceil(total)
    assert body["usage"]["request_count"] == 1
    (call,) = fake.transcriptions
    assert (call.source, call.file_id, call.status) == ("file_url", file_id, 200)
    assert call.fields["timestamp_granularities"] == ["segment"]
    assert call.audio_seconds == pytest.approx(total, abs=0.05)
    assert call.billed_seconds == math.ceil(total)

    r = await client.delete(f"/v1/files/{file_id}")
    assert r.json() == {"id": file_id, "object": "file", "deleted": True}
    assert fake.deleted == [file_id]
    assert fake.live_files == set()
    assert (await client.delete(f"/v1/files/{file_id}")).status_code == 404
    assert (await client.get(f"/v1/files/{file_id}/url")).status_code == 404
    assert fake.route_counts["POST /v1/files"] == 1
    assert fake.route_counts["DELETE /v1/files/{file_id}"] == 2
    assert ("POST", "/v1/audio/transcriptions") in fake.requests


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "m4a", "wav", "flac"])
async def test_direct_file_in_any_format(
    fake: FakeMistral, client: httpx.AsyncClient, fmt: str
) -> None:
    words, total = media.script(5, word_seconds=0.35, pause_seconds=0.3, first_index=95)
    data = media.encode(media.speech(words, total), fmt)
    r = await transcribe(client, data=data)
    assert r.status_code == 200, r.text
    assert_words(r.json(), words)
    (call,) = fake.transcriptions
    assert (call.source, call.audio, call.filename) == ("file", data, "audio.ogg")
    assert fake.uploads == {}


async def test_video_note_is_heard_too(client: httpx.AsyncClient) -> None:
    words, total = media.script(3)
    r = await transcribe(client, data=media.video(media.speech(words, total)))
    assert_words(r.json(), words)


async def test_file_id_source(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, words, _ = media.voice_note(2)
    file_id = await upload(client, data)
    r = await transcribe(client, file_id=file_id)
    assert_words(r.json(), words)
    assert fake.transcriptions[0].source == "file_id"
    r = await transcribe(client, file_id="00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404


async def test_language_with_timestamps_gives_nothing(client: httpx.AsyncClient) -> None:
    data, words, total = media.voice_note(3)
    r = await transcribe(client, data=data, language="fr")
    body = r.json()
    assert r.status_code == 200
    assert (body["text"], body["segments"]) == ("", [])
    assert body["usage"]["prompt_audio_seconds"] == math.ceil(total)

    r = await transcribe(client, data=data, language="fr", timestamps=False)
    body = r.json()
    assert body["text"] == " ".join(DEFAULT_VOCABULARY[w.index] for w in words)
    assert body["segments"] == []
    assert body["language"] == "fr"

    r = await transcribe(client, data=data, timestamps=False)
    assert r.json()["segments"] == []


async def test_repeated_granularities_and_custom_vocabulary(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    fake.vocabulary = [f"<{k}> & «слово» 🎙️" for k in range(100)]
    data, words, _ = media.voice_note(2, first_index=41)
    form = [("model", MODEL), ("timestamp_granularities", "segment")]
    form.append(("timestamp_granularities", "segment"))
    r = await client.post(
        "/v1/audio/transcriptions",
        files=[*[(k, (None, v)) for k, v in form], ("file", ("a.ogg", data, "audio/ogg"))],
    )
    assert r.status_code == 200, r.text
    assert [s["text"] for s in r.json()["segments"]] == [fake.vocabulary[w.index] for w in words]
    assert words[0].index == 41
    assert r.json()["text"] == "<41> & «слово» 🎙️ <42> & «слово» 🎙️"
    assert fake.transcriptions[0].fields["timestamp_granularities"] == ["segment", "segment"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}]
)
async def test_bad_key_is_refused(fake: FakeMistral, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as c:
        r = await c.post("/v1/files", files={"file": ("a.ogg", b"x")}, data={"purpose": "audio"})
        assert r.status_code == 401
        assert r.json() == {"detail": "Unauthorized"}
        r = await c.post("/v1/audio/transcriptions", data={"model": MODEL, "file_url": "x"})
        assert r.status_code == 401
    assert fake.uploads == {}
    assert [c.status for c in fake.transcriptions] == [401]


async def test_validation_errors(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(1)
    r = await client.post("/v1/files", files={"file": ("a.ogg", data)}, data={"purpose": "voice"})
    assert r.status_code == 422
    assert r.json()["message"]["detail"][0]["loc"] == ["body", "purpose"]
    for purpose in ("fine-tune", "batch", "ocr"):
        await upload(client, data, purpose)

    r = await client.post("/v1/audio/transcriptions", files={"file": ("a.ogg", data)})
    assert r.status_code == 422
    assert r.json()["message"]["detail"][0]["loc"] == ["body", "model"]
    assert r.json()["object"] == "error"
    url = await signed_url(client, await upload(client, data))
    assert (await transcribe(client, data=data, file_url=url)).status_code == 422
    assert (await transcribe(client)).status_code == 422
    assert (await transcribe(client, data=data, language="english")).status_code == 422
    r = await client.post(
        "/v1/audio/transcriptions",
        data={"model": MODEL, "file_url": url, "timestamp_granularities": "sentence"},
    )
    assert r.status_code == 422
    assert (await client.get(f"/v1/files/{fake.deleted or 'x'}/url?expiry=500")).status_code == 422
    assert all(c.status == 422 for c in fake.transcriptions)


async def test_undecodable_audio(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    r = await transcribe(client, data=b"this is not audio at all" * 100)
    assert r.status_code == 400
    body = r.json()
    assert body["object"] == "error"
    assert body["type"] == "invalid_request_audio"
    assert fake.transcriptions[0].status == 400


async def test_rate_limit_with_retry_after(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, words, _ = media.voice_note(2)
    fake.fail_transcriptions(429, times=2, retry_after=3)
    for _ in range(2):
        r = await transcribe(client, data=data)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "3"
        assert r.json()["object"] == "error"
    r = await transcribe(client, data=data)
    assert r.status_code == 200
    assert_words(r.json(), words)
    assert [c.status for c in fake.transcriptions] == [429, 429, 200]


async def test_failures_with_text_body_forever(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, _, _ = media.voice_note(1)
    fake.fail_transcriptions(502, times=-1, body="<html>Bad Gateway</html>")
    for _ in range(3):
        r = await transcribe(client, data=data)
        assert (r.status_code, r.text) == (502, "<html>Bad Gateway</html>")


async def test_fail_when_matches_a_chunk(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    short, _, _ = media.voice_note(1)
    long, _, total = media.voice_note(4)
    fake.fail_when(lambda call: (call.audio_seconds or 0) > 3, 503)
    assert (await transcribe(client, data=short)).status_code == 200
    assert (await transcribe(client, data=long)).status_code == 503
    assert fake.transcriptions[1].audio_seconds == pytest.approx(total, abs=0.05)


async def test_foreign_file_url_is_refused_and_recorded(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    url = "https://api.telegram.org/file/bot123456:ABC-secret/voice/file_7.oga"
    r = await transcribe(client, file_url=url)
    assert r.status_code == 400
    assert r.json()["object"] == "error"
    assert fake.foreign_urls == [url]
    assert fake.transcriptions[0].source == "file_url"


async def test_signed_url_of_a_deleted_file(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(1)
    file_id = await upload(client, data)
    url = await signed_url(client, file_id)
    await client.delete(f"/v1/files/{file_id}")
    r = await transcribe(client, file_url=url)
    assert r.status_code == 400
    assert fake.foreign_urls == []
    assert (await transcribe(client, file_url="not a url")).status_code == 422


async def test_concurrency_is_counted(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(1)
    fake.latency = 0.3
    started = time.perf_counter()
    tasks = [asyncio.create_task(transcribe(client, data=data)) for _ in range(5)]
    await fake.wait_for(lambda: fake.in_flight == 5, timeout=5)
    responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 5
    assert fake.max_in_flight == 5
    assert fake.in_flight == 0
    assert time.perf_counter() - started < 1.2


async def test_latency_per_audio_second(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, total = media.voice_note(2)
    fake.latency_per_audio_second = 0.1
    started = time.perf_counter()
    await transcribe(client, data=data)
    assert time.perf_counter() - started >= 0.1 * total


async def test_spans_link_the_requests_of_one_file(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, _, _ = media.voice_note(1)
    fake.latency = 0.2
    file_id = await upload(client, data)
    url = await signed_url(client, file_id)
    assert (await transcribe(client, file_url=url)).status_code == 200
    await client.delete(f"/v1/files/{file_id}")
    await client.get("/v1/files")

    assert [(s.route, s.file_id) for s in fake.spans] == [
        ("POST /v1/files", file_id),
        ("GET /v1/files/{file_id}/url", file_id),
        ("POST /v1/audio/transcriptions", file_id),
        ("DELETE /v1/files/{file_id}", file_id),
        ("GET /v1/files", None),
    ]
    assert all(a.start <= a.end <= b.start for a, b in itertools.pairwise(fake.spans))
    transcription = fake.spans[2]
    assert transcription.end - transcription.start >= 0.2


async def test_wait_for_times_out(fake: FakeMistral) -> None:
    with pytest.raises(AssertionError):
        await fake.wait_for(lambda: fake.transcriptions, timeout=0.1)


async def test_max_audio_seconds(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(5)
    fake.max_audio_seconds = 3
    r = await transcribe(client, data=data)
    assert r.status_code == 400
    assert r.json()["type"] == "invalid_request_audio"
    assert "too long" in r.json()["message"]


async def test_reset_and_hang(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(1)
    fake.reset_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await transcribe(client, data=data)
    assert (await transcribe(client, data=data)).status_code == 200

    fake.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        await transcribe_with_timeout(client, data, 0.3)
    started = time.perf_counter()
    fake.hang_next(0.3)
    assert (await transcribe(client, data=data)).status_code == 200
    assert time.perf_counter() - started >= 0.3


async def test_held_requests_are_counted_and_released(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, _, _ = media.voice_note(1)
    fake.hang_next(60, times=2)
    calls = [asyncio.create_task(transcribe(client, data=data)) for _ in range(2)]
    await fake.wait_for(lambda: fake.hanging == 2, timeout=10)
    assert not any(c.done() for c in calls)
    fake.release_hangs()
    answers = await asyncio.wait_for(asyncio.gather(*calls), timeout=10)
    assert [r.status_code for r in answers] == [200, 200]
    assert fake.hanging == 0


async def test_stop_answering_holds_every_request_until_answer_again(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, _, _ = media.voice_note(1)
    file_id = await upload(client, data)
    fake.stop_answering()
    calls = [
        asyncio.create_task(client.delete(f"/v1/files/{file_id}")),
        asyncio.create_task(transcribe(client, data=data)),
    ]
    await fake.wait_for(lambda: fake.hanging == 2, timeout=10)
    assert not any(c.done() for c in calls)
    assert file_id in fake.live_files
    fake.answer_again()
    answers = await asyncio.wait_for(asyncio.gather(*calls), timeout=10)
    assert [r.status_code for r in answers] == [200, 200]
    assert file_id in fake.deleted
    assert fake.hanging == 0


async def transcribe_with_timeout(client: httpx.AsyncClient, data: bytes, seconds: float) -> None:
    await client.post(
        "/v1/audio/transcriptions",
        data={"model": MODEL},
        files={"file": ("a.ogg", data)},
        timeout=seconds,
    )


async def test_stop_with_a_request_hanging() -> None:
    data, _, _ = media.voice_note(1)
    fake = FakeMistral()
    await fake.start()
    fake.hang_next(30)
    async with httpx.AsyncClient(base_url=fake.base_url) as c:
        task = asyncio.create_task(
            c.post(
                "/v1/audio/transcriptions",
                headers={"Authorization": f"Bearer {API_KEY}"},
                data={"model": MODEL},
                files={"file": ("a.ogg", data)},
            )
        )
        await fake.wait_for(lambda: fake.in_flight == 1, timeout=5)
        started = time.perf_counter()
        await fake.stop()
        assert time.perf_counter() - started < 5
        with pytest.raises(httpx.HTTPError):
            await task


# --- streaming, diarization, context bias, models, chat ----------------------------------------


def dialogue(*turns: tuple[int, int], pause: float = 1.5) -> tuple[bytes, list[media.Word]]:
    """An Ogg note of turns (first word index, word count), a long pause between turns."""
    words: list[media.Word] = []
    start = 0.3
    for first, count in turns:
        for i in range(count):
            words.append(media.Word(first + i, round(start, 6), 0.5))
            start += 0.5 + 0.4
        start += pause - 0.4
    total = words[-1].end + 0.3
    return media.encode(media.speech(words, total), "ogg"), words


async def read_events(response: httpx.Response) -> list[tuple[float, str, dict[str, Any]]]:
    """(seconds since the headers, event type, data) per event of a raw event stream."""
    started = time.perf_counter()
    events = []
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        assert block[0].startswith("event: ") and block[1].startswith("data: "), block
        kind, data = block[0].removeprefix("event: "), json.loads(block[1].removeprefix("data: "))
        events.append((time.perf_counter() - started, kind, data))
        block = []
    assert not block
    return events


async def stream_form(
    client: httpx.AsyncClient, data: bytes, **fields: Any
) -> AsyncIterator[httpx.Response]:
    form = {"model": MODEL, "stream": "true", "timestamp_granularities": "segment", **fields}
    files = {"file": ("a.ogg", data, "audio/ogg")}
    async with client.stream("POST", "/v1/audio/transcriptions", data=form, files=files) as r:
        yield r


async def test_stream_events_are_spaced_and_end_with_done(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    data, words, total = media.voice_note(3, first_index=7)
    fake.stream_first_delay, fake.stream_gap = 0.5, 0.2
    async for r in stream_form(client, data):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = await read_events(r)
    kinds = [kind for _, kind, _ in events]
    assert kinds == ["transcription.language"] + [
        "transcription.text.delta",
        "transcription.segment",
    ] * 3 + ["transcription.done"]
    assert all(data["type"] == kind for _, kind, data in events)
    segments = [(t, d) for t, kind, d in events if kind == "transcription.segment"]
    names = [DEFAULT_VOCABULARY[w.index] for w in words]
    assert [d["text"] for _, d in segments] == names
    # Lower bounds are the fake's sleeps; upper bounds leave room for a busy machine.
    assert 0.45 <= segments[0][0] < 1.2
    assert 0.35 <= segments[2][0] - segments[0][0] < 1.0
    deltas = "".join(d["text"] for _, kind, d in events if kind == "transcription.text.delta")
    done = events[-1][2]
    assert deltas == done["text"] == " ".join(names)
    assert done["usage"]["prompt_audio_seconds"] == math.ceil(total)
    assert [s["text"] for s in done["segments"]] == names
    (call,) = fake.transcriptions
    assert (call.stream, call.broken, call.status, call.billed_seconds) == (
        True,
        None,
        200,
        math.ceil(total),
    )
    assert fake.transcripts() == [" ".join(names)]


async def test_stream_parses_with_the_official_sdk(fake: FakeMistral) -> None:
    sdk_client = pytest.importorskip("mistralai.client")
    sdk_models = pytest.importorskip("mistralai.client.models")
    data, words = dialogue((2, 2), (70, 1))
    async with sdk_client.Mistral(api_key=API_KEY, server_url=fake.base_url) as sdk:
        stream = await sdk.audio.transcriptions.stream_async(
            model=MODEL,
            file={"file_name": "note.ogg", "content": data},
            timestamp_granularities=["segment"],
            diarize=True,
            context_bias=["Charlie", "Quebec"],
        )
        events = [event async for event in stream]
        assert [e.event for e in events] == [
            "transcription.language",
            *["transcription.text.delta", "transcription.segment"] * 3,
            "transcription.done",
        ]
        assert isinstance(events[0].data, sdk_models.TranscriptionStreamLanguage)
        assert events[0].data.audio_language == "en"
        segments = [e.data for e in events if e.event == "transcription.segment"]
        assert all(isinstance(s, sdk_models.TranscriptionStreamSegmentDelta) for s in segments)
        assert [(s.text, s.speaker_id) for s in segments] == [
            ("charlie", "speaker_1"),
            ("delta", "speaker_1"),
            ("melon", "speaker_2"),
        ]
        assert segments[2].start == pytest.approx(words[2].start, abs=0.15)
        done = events[-1].data
        assert isinstance(done, sdk_models.TranscriptionStreamDone)
        assert done.text == "charlie delta melon"
        assert done.usage.prompt_audio_seconds == fake.transcriptions[0].billed_seconds
        # The SDK's plain call, models and chat read the fake's answers too.
        plain = await sdk.audio.transcriptions.complete_async(
            model=MODEL, file={"file_name": "note.ogg", "content": data}
        )
        assert plain.text == "charlie delta melon"
        listed = await sdk.models.list_async()
        assert any(m.id == MODEL and m.capabilities.audio_transcription for m in listed.data)
        chat = await sdk.chat.complete_async(
            model="mistral-small-latest", messages=[{"role": "user", "content": "Summarize: a b"}]
        )
        assert chat.choices[0].message.content == "SUMMARY(3): Summarize: a b"
    fields = fake.transcriptions[0].fields
    assert (fields["stream"], fields["diarize"]) == (["true"], ["true"])
    assert fields["context_bias"] == ["Charlie", "Quebec"]


@pytest.mark.parametrize("how", ["drop", "garbage", "end"])
async def test_break_a_stream_midway(
    fake: FakeMistral, client: httpx.AsyncClient, how: str
) -> None:
    data, _, _ = media.voice_note(3)
    fake.break_stream_next(after_words=1, how=how)
    lines: list[str] = []
    async for r in stream_form(client, data):
        assert r.status_code == 200
        if how == "drop":
            with pytest.raises(httpx.RemoteProtocolError):
                async for line in r.aiter_lines():
                    lines.append(line)
        else:
            lines = [line async for line in r.aiter_lines()]
    assert "event: transcription.segment" in lines  # the first word came through
    assert not any("transcription.done" in line for line in lines)
    assert any(line.startswith('data: {"text": "cut') for line in lines) == (how == "garbage")
    (call,) = fake.transcriptions
    assert (call.stream, call.broken, call.response, call.billed_seconds) == (True, how, None, 0)
    assert fake.transcripts() == []
    async for r in stream_form(client, data):  # the break was for one stream only
        assert (await read_events(r))[-1][1] == "transcription.done"


async def test_stream_with_a_pinned_language_sends_text_only(client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(2)
    form = {"model": MODEL, "stream": "true", "language": "fr"}
    files = {"file": ("a.ogg", data, "audio/ogg")}
    async with client.stream("POST", "/v1/audio/transcriptions", data=form, files=files) as r:
        events = await read_events(r)
    assert [k for _, k, _ in events] == [
        "transcription.language",
        "transcription.text.delta",
        "transcription.text.delta",
        "transcription.done",
    ]
    assert events[0][2]["audio_language"] == "fr"
    assert events[-1][2]["text"] == "alpha bravo"
    assert events[-1][2]["segments"] == []


async def test_errors_come_before_the_stream(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    async for r in stream_form(client, b"not audio" * 50):
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/json")
    fake.fail_transcriptions(429, retry_after=2)
    data, _, _ = media.voice_note(1)
    async for r in stream_form(client, data):
        assert (r.status_code, r.headers["Retry-After"]) == (429, "2")
    async for r in stream_form(client, data, stream="maybe"):
        assert r.status_code == 422
        assert json.loads(await r.aread())["message"]["detail"][0]["loc"] == ["body", "stream"]


async def test_diarize_speakers_follow_turns_and_pitch(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    # Low voice, high voice, low voice again; a turn drifting across 2775 Hz (47..50: cow sheep
    # goat lion, mean 2725 Hz) keeps one speaker, the low one, even for "lion" (2800 Hz).
    data, _ = dialogue((2, 2), (70, 2), (5, 1), (47, 4))
    r = await transcribe(client, data=data, diarize="true")
    assert r.status_code == 200, r.text
    assert [(s["text"], s["speaker_id"]) for s in r.json()["segments"]] == [
        ("charlie", "speaker_1"),
        ("delta", "speaker_1"),
        ("melon", "speaker_2"),
        ("peach", "speaker_2"),
        ("foxtrot", "speaker_1"),
        ("cow", "speaker_1"),
        ("sheep", "speaker_1"),
        ("goat", "speaker_1"),
        ("lion", "speaker_1"),
    ]

    data, _ = dialogue((80, 1), (1, 1))  # numbered by first appearance, whatever the pitch
    fake.speaker_format = "SPEAKER_{n:02d}"
    r = await transcribe(client, data=data, diarize="true")
    assert [s["speaker_id"] for s in r.json()["segments"]] == ["SPEAKER_01", "SPEAKER_02"]

    r = await transcribe(client, data=data)
    assert all("speaker_id" not in s for s in r.json()["segments"])
    r = await transcribe(client, data=data, diarize="true", timestamps=False)
    assert r.status_code == 422
    assert r.json()["message"]["detail"][0]["loc"] == ["body", "diarize"]


async def context_bias(
    client: httpx.AsyncClient, data: bytes, terms: list[str], **fields: str
) -> httpx.Response:
    form = [("model", MODEL), ("timestamp_granularities", "segment"), *fields.items()]
    form += [("context_bias", t) for t in terms]
    return await client.post(
        "/v1/audio/transcriptions",
        files=[*[(k, (None, v)) for k, v in form], ("file", ("a.ogg", data, "audio/ogg"))],
    )


async def test_context_bias_is_validated(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    data, _, _ = media.voice_note(1)
    for bad in (["two words"], ["a,b"], ["ok", ""], ["tab\there"]):
        r = await context_bias(client, data, bad)
        assert r.status_code == 422, bad
        assert r.json()["message"]["detail"][0]["loc"][:2] == ["body", "context_bias"]
    r = await context_bias(client, data, [f"t{i}" for i in range(101)])
    assert r.status_code == 422
    assert r.json()["message"]["detail"][0]["type"] == "too_long"
    r = await context_bias(client, data, [f"t{i}" for i in range(100)])
    assert r.status_code == 200
    assert len(fake.transcriptions[-1].fields["context_bias"]) == 100

    fake.refuse_context_bias = True
    r = await context_bias(client, data, ["Voxtral"])
    assert r.status_code == 422
    assert "context_bias" in r.json()["message"]
    assert (await context_bias(client, data, [])).status_code == 200


async def test_mishear_unless_the_word_is_a_bias_term(
    fake: FakeMistral, client: httpx.AsyncClient
) -> None:
    fake.vocabulary[2] = "Voxtral"
    fake.mishear = {"Voxtral": "box trawl", "delta": "delter"}
    data, _, _ = media.voice_note(3, first_index=1)
    r = await context_bias(client, data, [])
    assert r.json()["text"] == "bravo box trawl delter"
    assert [s["text"] for s in r.json()["segments"]] == ["bravo", "box trawl", "delter"]
    r = await context_bias(client, data, ["voxtral"])  # compared case-insensitively
    assert r.json()["text"] == "bravo Voxtral delter"
    r = await context_bias(client, data, ["Voxtral", "Delta"])
    assert r.json()["text"] == "bravo Voxtral delta"


async def test_models_list_and_retrieve(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models")
    body = r.json()
    assert body["object"] == "list"
    cards = {card["id"]: card for card in body["data"]}
    assert cards[MODEL]["capabilities"]["audio_transcription"] is True
    assert cards["mistral-small-latest"]["capabilities"]["audio_transcription"] is False
    assert cards["mistral-small-latest"]["capabilities"]["completion_chat"] is True
    assert cards[MODEL]["type"] == "base"

    fake.models = {"voxtral-mini-2507": {"audio_transcription", "audio"}}
    r = await client.get("/v1/models/voxtral-mini-2507")
    assert r.json()["capabilities"]["audio"] is True
    assert (await client.get(f"/v1/models/{MODEL}")).status_code == 404
    assert [c["id"] for c in (await client.get("/v1/models")).json()["data"]] == [
        "voxtral-mini-2507"
    ]


async def chat(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/v1/chat/completions", json=body)


async def test_chat_answers_by_convention(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    text = "alpha bravo charlie delta echo foxtrot golf hotel india juliett"
    summary = [
        {"role": "system", "content": "Summarize the user's voice note in two sentences."},
        {"role": "user", "content": text},
    ]
    r = await chat(client, {"model": "mistral-small-latest", "messages": summary})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "SUMMARY(10): alpha bravo charlie delta echo foxtrot golf hotel",
        "tool_calls": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )

    for instruction, code in [
        ("Translate the text into French.", "fr"),
        ("You translate. Target language: de", "de"),
        ("Please translate it to uk", "uk"),
    ]:
        messages = [
            {"role": "system", "content": instruction},
            {"role": "user", "content": "one two\nthree"},
        ]
        r = await chat(client, {"model": "mistral-small-latest", "messages": messages})
        assert r.json()["choices"][0]["message"]["content"] == f"[{code}] one two\n[{code}] three"
    r = await chat(client, {"model": MODEL, "messages": [{"role": "user", "content": "hi there"}]})
    assert r.json()["choices"][0]["message"]["content"] == "REPLY(2): hi there"

    assert [c.model for c in fake.chats] == ["mistral-small-latest"] * 4 + [MODEL]
    assert fake.chats[0].messages == summary
    assert fake.chats[0].content is not None and fake.chats[0].content.startswith("SUMMARY")
    assert all(c.status == 200 for c in fake.chats)


async def test_chat_errors(fake: FakeMistral, client: httpx.AsyncClient) -> None:
    messages = [{"role": "user", "content": "x"}]
    r = await chat(client, {"model": "voxtral-nonexistent", "messages": messages})
    assert (r.status_code, r.json()["type"]) == (400, "invalid_model")
    for body, loc in [
        ({"messages": messages}, ["body", "model"]),
        ({"model": MODEL, "messages": []}, ["body", "messages"]),
        ({"model": MODEL, "messages": [{"role": "bot", "content": "x"}]}, ["body", "messages", 0]),
        ({"model": MODEL, "messages": [{"role": "user", "content": 3}]}, ["body", "messages", 0]),
    ]:
        r = await chat(client, body)
        assert r.status_code == 422
        assert r.json()["message"]["detail"][0]["loc"][: len(loc)] == loc
    fake.fail_chats(429, times=2, retry_after=1)
    for _ in range(2):
        r = await chat(client, {"model": MODEL, "messages": messages})
        assert (r.status_code, r.headers["Retry-After"]) == (429, "1")
    assert (await chat(client, {"model": MODEL, "messages": messages})).status_code == 200
    assert [c.status for c in fake.chats][-3:] == [429, 429, 200]
    assert fake.transcriptions == []
