"""The fake Mistral answers as the spec says and really hears the tone words it is sent."""

from __future__ import annotations

import asyncio
import itertools
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
