"""A fake Mistral API (Files, audio transcriptions) on 127.0.0.1 that really transcribes tone words.

It answers as Mistral's published OpenAPI spec says the real API does, and hears
the "tone words" of tests/media.py: each non-silent stretch of the received audio is a word whose
dominant frequency 300 + 50·k names vocabulary[k]. Decoding runs in a thread, off the event loop.

Beyond the plain transcription it speaks:

- Streaming (`stream=true`): a `text/event-stream` of `transcription.language`, then per word a
  `transcription.text.delta` and (with segment timestamps) a `transcription.segment`, then
  `transcription.done` with the whole answer and its usage; no `[DONE]` sentinel. The word events
  wait `stream_first_delay` seconds before the first word and `stream_gap` before each next one.
  break_stream_next() drops the connection (or sends garbage, or just ends) midway; a broken stream
  has no `response`, so it bills nothing.
- Diarization (`diarize=true`, with `timestamp_granularities=segment`): each segment gets a
  `speaker_id`. The rule: the heard words fall into turns, a new turn starting after a pause of at
  least TURN_PAUSE_SECONDS (1 s; tests/media.py's script() pauses 0.4 s, so one script is one
  turn); a turn is a low voice if the mean frequency of its words is below SPEAKER_SPLIT_HZ
  (vocabulary 0–49) and a high voice otherwise (50–99). Each voice is one speaker, numbered per
  request in order of first appearance: `speaker_format.format(n=1)` ("speaker_1"), then n=2.
- Context bias (`context_bias`, repeated): each item must match `^[^,\\s]+$` and there may be at
  most 100, else 422. `mishear` maps a vocabulary word to what the fake writes instead (e.g.
  {"Voxtral": "box trawl"}) unless the word is among the request's context_bias terms (compared
  case-insensitively). `refuse_context_bias = True` answers 422 to any request that has some, as
  models without context bias do.
- GET /v1/models and /v1/models/{id}: `models` maps a model id to its true capabilities.
- POST /v1/chat/completions: answers deterministically, see chat_answer(); `chats` records the
  calls, fail_chats() injects error statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import mimetypes
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import av
import numpy as np
from aiohttp import BodyPartReader, web
from yarl import URL

from tests.fakes.mistral_batch import FakeBatches

API_KEY = "test-mistral-key-0123456789abcdef"
ANALYSIS_RATE = 16000
FRAME_SECONDS = 0.01
ACTIVE_RMS = 0.02  # a tone word is 0.5 amplitude (RMS 0.35); codec noise in the gaps is far below
WORD_GAP_SECONDS = 0.15  # quieter stretches shorter than this are inside one word
MIN_WORD_SECONDS = 0.04  # shorter blips are codec artefacts, not words
FILE_PURPOSES = ("fine-tune", "batch", "ocr", "audio")  # the spec's enum plus the documented one
TIMESTAMP_GRANULARITIES = ("segment", "word")
DEFAULT_MODEL = "voxtral-mini-latest"
MAX_CONTEXT_BIAS = 100
CONTEXT_BIAS_ITEM = re.compile(r"^[^,\s]+$")
TURN_PAUSE_SECONDS = 1.0  # a pause this long between words starts a new speaker turn
SPEAKER_SPLIT_HZ = 2775.0  # between word 49 (2750 Hz) and word 50 (2800 Hz): low and high voices
# GET /v1/models: each model's true capabilities (the others are false), as FakeMistral.models.
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    DEFAULT_MODEL: ("audio", "audio_transcription", "completion_chat"),
    "voxtral-small-latest": ("audio", "completion_chat", "function_calling"),
    "mistral-small-latest": ("completion_chat", "function_calling", "vision"),
    "mistral-medium-latest": ("completion_chat", "function_calling", "vision"),
    "mistral-large-latest": ("completion_chat", "function_calling", "vision"),
    "ministral-8b-latest": ("completion_chat", "function_calling"),
}
# The spec's ModelCapabilities, every one of them in each model card.
MODEL_CAPABILITIES = (
    "completion_chat",
    "function_calling",
    "reasoning",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "audio_transcription",
    "audio_transcription_realtime",
    "audio_speech",
    "unified_resources",
)
CHAT_ROLES = ("system", "user", "assistant", "tool")
# chat_answer(): the target of a translation, named by code or by English name.
LANGUAGE_NAMES = {
    "arabic": "ar",
    "chinese": "zh",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "hindi": "hi",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "polish": "pl",
    "portuguese": "pt",
    "russian": "ru",
    "spanish": "es",
    "turkish": "tr",
    "ukrainian": "uk",
}
# Pydantic's reading of a form field as a boolean.
_TRUE = ("1", "on", "t", "true", "y", "yes")
_FALSE = ("0", "off", "f", "false", "n", "no")
# The file a request was about, set by the handler that learns it (for Span).
FILE_ID = web.RequestKey("file_id", str)

T = TypeVar("T")

_NATO = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
)
_MORE = (
    "mercury venus earth mars jupiter saturn uranus neptune red orange yellow green blue indigo "
    "violet black white gray cat dog horse cow sheep goat lion tiger bear wolf fox rabbit mouse "
    "eagle owl shark whale dolphin otter beaver apple banana cherry grape lemon mango melon peach "
    "pear plum kiwi lime papaya guava fig apricot one two three four five six seven eight nine "
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
)
DEFAULT_VOCABULARY: tuple[str, ...] = tuple((_NATO + " " + _MORE).split())
assert len(DEFAULT_VOCABULARY) == 100 and len(set(DEFAULT_VOCABULARY)) == 100


class UndecodableAudio(Exception):
    """The received bytes hold no audio PyAV can decode."""


@dataclass(frozen=True)
class HeardWord:
    """One non-silent stretch of the received audio: its times, frequency and word index."""

    start: float
    end: float
    freq: float
    index: int


@dataclass(frozen=True)
class Hearing:
    """What the fake heard in a file: its decoded length and its words."""

    duration: float
    words: list[HeardWord]


def _decode(data: bytes, sample_rate: int) -> np.ndarray:
    try:
        # WAV in 64 kB packets rather than 4 kB: fewer frames to handle one by one.
        with av.open(io.BytesIO(data), "r", options={"max_size": "65536"}) as container:
            if not container.streams.audio:
                raise UndecodableAudio("no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            blocks: list[np.ndarray] = []
            for frame in [*_runs(container.decode(stream)), None]:
                blocks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    except (av.FFmpegError, ValueError, EOFError) as exc:
        raise UndecodableAudio(type(exc).__name__) from exc
    if not blocks:
        raise UndecodableAudio("no audio frames")
    return np.concatenate(blocks).astype(np.float32, copy=False)


def _runs(frames: Iterable[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    """Consecutive frames of one format, layout and rate joined into one: resampling them one
    20 ms frame at a time cost more than decoding them."""
    run: list[av.AudioFrame] = []
    for frame in [*frames, None]:
        if run and (frame is None or _kind(frame) != _kind(run[0])):
            first = run[0]
            joined = av.AudioFrame.from_ndarray(
                np.concatenate([f.to_ndarray() for f in run], axis=1),
                format=first.format.name,
                layout=first.layout.name,
            )
            joined.sample_rate = first.sample_rate
            yield joined
            run = []
        if frame is not None:
            run.append(frame)


def _kind(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate


def _dominant_freq(samples: np.ndarray, sample_rate: int) -> float:
    n = max(len(samples), sample_rate)  # zero-padding to at least 1 s gives 1 Hz bins
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=n))
    return float(np.argmax(spectrum) * sample_rate / n)


def hear(data: bytes, sample_rate: int = ANALYSIS_RATE) -> Hearing:
    """Decode audio bytes (any container) and find its tone words; UndecodableAudio if not audio."""
    samples = _decode(data, sample_rate)
    hop = round(FRAME_SECONDS * sample_rate)
    n_frames = len(samples) // hop
    frames = samples[: n_frames * hop].reshape(n_frames, hop).astype(np.float64)
    active = np.sqrt(np.mean(frames * frames, axis=1)) > ACTIVE_RMS
    runs: list[list[int]] = []  # [first frame, last frame + 1]
    for i in np.flatnonzero(active):
        if runs and (i - runs[-1][1]) * FRAME_SECONDS < WORD_GAP_SECONDS:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    words = []
    for first, stop in runs:
        if (stop - first) * FRAME_SECONDS < MIN_WORD_SECONDS:
            continue
        freq = _dominant_freq(samples[first * hop : stop * hop], sample_rate)
        words.append(
            HeardWord(
                start=first * FRAME_SECONDS,
                end=stop * FRAME_SECONDS,
                freq=freq,
                index=round((freq - 300.0) / 50.0),
            )
        )
    return Hearing(duration=len(samples) / sample_rate, words=words)


@dataclass
class TranscriptionCall:
    """One transcription request as the fake received it, and how it answered."""

    fields: dict[str, list[str]]
    audio: bytes | None
    source: str  # "file" | "file_url" | "file_id" ("" when none or several were given)
    file_id: str | None
    audio_seconds: float | None
    status: int  # 0 while in progress and when the connection was dropped
    filename: str | None = None
    response: dict[str, Any] | None = None
    stream: bool = False  # asked with stream=true and answered with an event stream
    broken: str | None = None  # how break_stream_next() ended this stream, if it did

    @property
    def billed_seconds(self) -> int:
        """usage.prompt_audio_seconds of the answer (0 unless it succeeded)."""
        if self.response is None:
            return 0
        return int(self.response["usage"]["prompt_audio_seconds"] or 0)


@dataclass(frozen=True)
class Span:
    """The time one request spent in the fake (time.monotonic()), for the benchmark's overhead.

    `file_id` links the requests of one audio file: its upload, signed URL, transcription and
    deletion (None for requests about no file or a file sent inline).
    """

    route: str
    file_id: str | None
    start: float
    end: float


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: float | None
    body: str | None


@dataclass
class ChatCall:
    """One chat completion request as the fake received it, and what it answered."""

    body: Any
    status: int = 0
    content: str | None = None

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []


@dataclass
class _StreamBreak:
    after: int  # word events sent before the break
    how: str  # "drop" | "garbage" | "end"


@dataclass
class _Signature:
    file_id: str
    expires: float


def _error(
    status: int, message: Any, type_: str, code: str | None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"object": "error", "message": message, "type": type_, "param": None, "code": code}
    return web.json_response(body, status=status, headers=headers)


def _validation_error(loc: Sequence[str | int], msg: str, type_: str, value: Any) -> web.Response:
    # Mistral wraps FastAPI's validation detail in its own error object.
    detail = [{"type": type_, "loc": list(loc), "msg": msg, "input": value}]
    return _error(422, {"detail": detail}, "invalid_request_error", None)


def _default_failure_body(status: int) -> dict[str, Any]:
    if status == 429:
        message, type_, code = "Requests rate limit exceeded", "rate_limited", "1300"
    elif status == 503:
        message, type_, code = "Service unavailable", "service_unavailable", "3505"
    elif status >= 500:
        message, type_, code = "Internal server error", "internal_server_error", "3000"
    else:
        message, type_, code = "Invalid request", "invalid_request_error", "3001"
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


class FakeMistral:
    """The fake server; start() it in the test's event loop (or use `async with`)."""

    def __init__(self, api_key: str = API_KEY, *, vocabulary: Sequence[str] | None = None) -> None:
        self.api_key = api_key
        self.vocabulary: list[str] = list(vocabulary or DEFAULT_VOCABULARY)
        # A transcription is answered `latency` (+ `latency_per_audio_second` per second of
        # audio) after the fake began to work on it; its own decoding of the audio is part of
        # that time, as a real model's work is part of Mistral's.
        self.latency = 0.0
        self.latency_per_audio_second = 0.0
        self.max_audio_seconds: float | None = None
        self.uploads: dict[str, bytes] = {}
        self.upload_purposes: dict[str, str] = {}
        self.upload_filenames: dict[str, str] = {}
        self.deleted: list[str] = []
        self.live_files: set[str] = set()
        self.transcriptions: list[TranscriptionCall] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hanging = 0  # requests held by hang_next() or stop_answering() right now
        self.foreign_urls: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.spans: list[Span] = []
        self.route_counts: Counter[str] = Counter()
        self.signed_urls: list[str] = []
        self.base_url = ""
        self.stream_first_delay = 0.0
        self.stream_gap = 0.0
        self.mishear: dict[str, str] = {}
        self.refuse_context_bias = False
        self.speaker_format = "speaker_{n}"
        self.models: dict[str, set[str]] = {k: set(v) for k, v in DEFAULT_MODELS.items()}
        self.chats: list[ChatCall] = []
        self._stream_breaks: list[_StreamBreak] = []
        self._chat_failures: list[_Failure] = []
        self._created: dict[str, int] = {}
        self._signatures: dict[str, _Signature] = {}
        self._failures: list[_Failure] = []
        self._predicates: list[tuple[Callable[[TranscriptionCall], bool], int]] = []
        self._resets = 0
        self._hangs: list[float] = []
        self._answering: asyncio.Event | None = None
        self._gather = 0
        self._deletes_held: asyncio.Event | None = None
        self.deletes_waiting = 0
        self._release: asyncio.Event | None = None
        self._cond: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.batch_transcriptions: list[TranscriptionCall] = []
        """The lines of batch jobs, each as the transcription it was (see mistral_batch.py)."""
        self.batches = FakeBatches(self)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a random port of 127.0.0.1."""
        self._cond = asyncio.Condition()  # bound to the loop that runs the server
        self._release = asyncio.Event()
        self._answering = asyncio.Event()
        self._answering.set()
        app = web.Application(
            middlewares=[self._observe, self._auth],
            client_max_size=600 * 1024 * 1024,  # the real limit is 512 MB per file
        )
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files", self._list_files)
        app.router.add_get("/v1/files/{file_id}", self._retrieve_file)
        app.router.add_delete("/v1/files/{file_id}", self._delete_file)
        app.router.add_get("/v1/files/{file_id}/url", self._signed_url)
        app.router.add_get("/v1/files/{file_id}/content", self._download)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id}", self._retrieve_model)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/signed/{file_id}", self._signed_get)
        self.batches.routes(app)
        # A short shutdown timeout: a test that ends while hang_next() holds a request must not
        # wait a minute for it.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Close the server and its connections."""
        await self.batches.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMistral:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- test controls ---------------------------------------------------------------------

    def fail_transcriptions(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` transcription requests (-1: all) with this status."""
        self._failures.append(_Failure(status, times, retry_after, body))

    def fail_when(self, predicate: Callable[[TranscriptionCall], bool], status: int = 500) -> None:
        """Answer `status` to every transcription whose call matches, checked after decoding."""
        self._predicates.append((predicate, status))

    def reset_next(self, times: int = 1) -> None:
        """Drop the connection of the next `times` transcription requests without an answer."""
        self._resets += times

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """Make the next `times` transcription requests wait `seconds` before answering
        (`hanging` counts them while they wait; release_hangs() ends the wait early)."""
        self._hangs.extend([seconds] * times)

    def break_stream_next(self, after_words: int = 1, *, how: str = "drop", times: int = 1) -> None:
        """Break the next `times` streamed transcriptions after `after_words` word events:
        "drop" aborts the connection, "garbage" sends an event whose data is not JSON and ends,
        "end" ends the stream cleanly without a done event."""
        if how not in ("drop", "garbage", "end"):
            raise ValueError(f"unknown way to break a stream: {how!r}")
        self._stream_breaks.extend([_StreamBreak(after_words, how)] * times)

    def fail_chats(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` chat completions (-1: all) with this status."""
        self._chat_failures.append(_Failure(status, times, retry_after, body))

    def gather(self, requests: int) -> None:
        """Hold each transcription until `requests` are in flight together (or fail the test's
        wait): proof that the bot sends them side by side, with no timing involved."""
        self._gather = requests

    def stop_answering(self) -> None:
        """Every request from now on (uploads, deletes, transcriptions, …) is recorded but hangs,
        as when Mistral is unreachable, until answer_again(); `hanging` counts them."""
        if self._answering is not None:
            self._answering.clear()

    def answer_again(self) -> None:
        """Requests held by stop_answering() go on, and new ones are answered as usual."""
        if self._answering is not None:
            self._answering.set()

    def hold_deletes(self) -> None:
        """DELETE /v1/files/{id} waits (counted in `deletes_waiting`) until release_deletes()."""
        self._deletes_held = asyncio.Event()

    def release_deletes(self) -> None:
        if self._deletes_held is not None:
            self._deletes_held.set()
        self._deletes_held = None

    def release_hangs(self) -> None:
        """Let every request now held by hang_next() go on at once."""
        if self._release is not None:
            self._release.set()
            self._release = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0) -> T:  # noqa: ASYNC109
        """Wait until predicate() is truthy, re-checked as requests start and end."""
        if self._cond is None:
            raise RuntimeError("FakeMistral is not started")
        async with self._cond:
            try:
                return await asyncio.wait_for(self._cond.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(f"fake Mistral: condition not met in {timeout} s") from None

    def transcripts(self) -> list[str]:
        """The texts of the successful transcriptions, in order."""
        return [
            str(c.response.get("text", ""))
            for c in self.transcriptions
            if c.status == 200 and c.response
        ]

    async def _notify(self) -> None:
        if self._cond is None:
            return
        async with self._cond:
            self._cond.notify_all()

    # --- middlewares -----------------------------------------------------------------------

    @web.middleware
    async def _observe(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        self.route_counts[f"{request.method} {route}"] += 1
        await self._notify()
        start = time.monotonic()
        try:
            if self._answering is not None and not self._answering.is_set():
                self.hanging += 1
                await self._notify()
                try:
                    await self._answering.wait()
                finally:
                    self.hanging -= 1
                    await self._notify()
            return await handler(request)
        finally:
            file_id = request.get(FILE_ID) or request.match_info.get("file_id")
            self.spans.append(Span(f"{request.method} {route}", file_id, start, time.monotonic()))
            await self._notify()

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/v1/") and not self._authorized(request):
            if request.path == "/v1/audio/transcriptions":
                self.transcriptions.append(TranscriptionCall({}, None, "", None, None, 401))
            return web.json_response({"detail": "Unauthorized"}, status=401)
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    # --- files -----------------------------------------------------------------------------

    def _file_object(self, file_id: str) -> dict[str, Any]:
        filename = self.upload_filenames[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(self.uploads[file_id]),
            "created_at": self._created[file_id],
            "filename": filename,
            "purpose": self.upload_purposes[file_id],
            "sample_type": "instruct",
            "source": "upload",
            "num_lines": None,
            "mimetype": mimetypes.guess_type(filename)[0],
            "signature": None,
            "expires_at": None,
            "visibility": "workspace",
        }

    async def _upload(self, request: web.Request) -> web.Response:
        form = await _read_form(request)
        if isinstance(form, web.Response):
            return form
        texts, files = form
        if "file" not in files:
            if "file" in texts:
                return _not_a_file()
            return _validation_error(["body", "file"], "Field required", "missing", None)
        purpose = texts.get("purpose", ["fine-tune"])[-1]
        if purpose not in FILE_PURPOSES:
            expected = ", ".join(f"'{p}'" for p in FILE_PURPOSES)
            return _validation_error(
                ["body", "purpose"], f"Input should be {expected}", "enum", purpose
            )
        filename, data = files["file"][0]
        file_id = str(uuid.uuid4())
        self.uploads[file_id] = data
        self.upload_purposes[file_id] = purpose
        self.upload_filenames[file_id] = filename or "upload"
        self._created[file_id] = int(time.time())
        self.live_files.add(file_id)
        request[FILE_ID] = file_id
        return web.json_response(self._file_object(file_id))

    async def _list_files(self, request: web.Request) -> web.Response:
        data = [self._file_object(i) for i in self.uploads if i in self.live_files]
        return web.json_response({"data": data, "object": "list", "total": len(data)})

    def _live(self, request: web.Request) -> str | None:
        file_id = request.match_info["file_id"]
        return file_id if file_id in self.live_files else None

    async def _retrieve_file(self, request: web.Request) -> web.Response:
        file_id = self._live(request)
        if file_id is None:
            return _not_found()
        return web.json_response({**self._file_object(file_id), "deleted": False})

    async def _delete_file(self, request: web.Request) -> web.Response:
        if self._deletes_held is not None:
            self.deletes_waiting += 1
            await self._notify()
            try:
                await self._deletes_held.wait()
            finally:
                self.deletes_waiting -= 1
        file_id = self._live(request)
        if file_id is None:
            return _not_found()
        self.live_files.discard(file_id)
        self.deleted.append(file_id)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    async def _download(self, request: web.Request) -> web.Response:
        file_id = self._live(request)
        if file_id is None:
            return _not_found()
        return web.Response(body=self.uploads[file_id], content_type="application/octet-stream")

    async def _signed_url(self, request: web.Request) -> web.Response:
        raw = request.query.get("expiry", "24")
        try:
            hours = int(raw)
        except ValueError:
            return _validation_error(
                ["query", "expiry"], "Input should be a valid integer", "int_parsing", raw
            )
        if not 1 <= hours <= 168:
            return _validation_error(
                ["query", "expiry"], "Expiry must be between 1h and 168h", "value_error", hours
            )
        file_id = self._live(request)
        if file_id is None:
            return _not_found()
        sig = secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(hours=hours)
        self._signatures[sig] = _Signature(file_id, expires.timestamp())
        url = URL(self.base_url).with_path(f"/signed/{file_id}")
        url = url.with_query(
            se=expires.strftime("%Y-%m-%dT%H:%M:%SZ"), sp="r", sv="2025-01-05", sr="b", sig=sig
        )
        self.signed_urls.append(str(url))
        return web.json_response({"url": str(url)})

    def _signed_file(self, raw: str | URL) -> str | None:
        """The file id a signed URL of this fake grants, or None if it is not one (or expired)."""
        try:
            url = URL(raw)
        except (TypeError, ValueError):
            return None
        if not self.base_url or not url.absolute or url.origin() != URL(self.base_url).origin():
            return None
        if not url.path.startswith("/signed/"):
            return None
        signature = self._signatures.get(url.query.get("sig", ""))
        file_id = url.path.removeprefix("/signed/")
        if signature is None or signature.file_id != file_id or signature.expires < time.time():
            return None
        return file_id

    async def _signed_get(self, request: web.Request) -> web.Response:
        file_id = self._signed_file(request.url)
        if file_id is None:
            return web.Response(status=403, text="AuthenticationFailed")
        if file_id not in self.live_files:
            return web.Response(status=404, text="BlobNotFound")
        return web.Response(body=self.uploads[file_id], content_type="application/octet-stream")

    # --- transcriptions --------------------------------------------------------------------

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        call = TranscriptionCall({}, None, "", None, None, 0)
        self.transcriptions.append(call)
        await self._notify()  # waiters on in_flight see this request now
        try:
            response = await self._transcription(request, call)
            if response is None:  # reset_next(): drop the connection, no answer
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError
            call.status = response.status
            return response
        finally:
            self.in_flight -= 1

    async def _transcription(
        self, request: web.Request, call: TranscriptionCall
    ) -> web.StreamResponse | None:
        form = await _read_form(request)
        if isinstance(form, web.Response):
            return form
        texts, files = form
        sources = self._sources(texts, files, call)
        if call.file_id is not None:
            request[FILE_ID] = call.file_id

        if self._resets:
            self._resets -= 1
            return None
        if self._hangs:
            await self._hang(self._hangs.pop(0))
        if self._gather:
            gather = self._gather
            await self.wait_for(lambda: self.in_flight >= gather or not self._gather)
            self._gather = 0  # once met, the rest of the requests run freely
        injected = self._next_failure()
        if injected is not None:
            return injected
        return await self._answer(texts, sources, call, request)

    def _sources(
        self,
        texts: dict[str, list[str]],
        files: dict[str, list[tuple[str, bytes]]],
        call: TranscriptionCall,
    ) -> list[str]:
        """The audio sources a request names; fills the call's source, file id and audio."""
        call.fields = texts
        sources = [k for k in ("file", "file_url", "file_id") if k in files or texts.get(k)]
        if len(sources) == 1:
            call.source = sources[0]
        if "file" in files:
            call.filename, call.audio = files["file"][0]
        if "file_id" in texts:
            call.file_id = texts["file_id"][-1]
            call.audio = self.uploads.get(call.file_id) if call.file_id in self.live_files else None
        url_file_id: str | None = None
        if "file_url" in texts:
            url_file_id = self._signed_file(texts["file_url"][-1])
            if url_file_id is None:
                # A real Mistral would fetch it: that must never be a Telegram (token) URL.
                self.foreign_urls.append(texts["file_url"][-1])
            else:
                call.file_id = url_file_id
                call.audio = (
                    self.uploads.get(url_file_id) if url_file_id in self.live_files else None
                )
        return sources

    async def _answer(
        self,
        texts: dict[str, list[str]],
        sources: list[str],
        call: TranscriptionCall,
        request: web.Request | None,
    ) -> web.StreamResponse | None:
        """Validate, hear and answer a transcription (a batch line has no `request`)."""
        invalid = self._validate(texts, sources)
        if invalid is not None:
            return invalid
        if call.source == "file_url" and call.audio is None:
            return _error(
                400, "Could not download the file at file_url", "invalid_request_file", "3310"
            )
        if call.source == "file_id" and call.audio is None:
            return _error(404, f"File {call.file_id} not found", "invalid_request_file", "3311")
        assert call.audio is not None

        begun = time.monotonic()
        try:
            hearing = await asyncio.to_thread(hear, call.audio)
        except UndecodableAudio:
            return _error(
                400,
                "Audio input could not be decoded: unsupported or corrupted file",
                "invalid_request_audio",
                "3051",
            )
        call.audio_seconds = hearing.duration
        if self.max_audio_seconds is not None and hearing.duration > self.max_audio_seconds:
            return _error(
                400,
                f"Audio input is too long: {hearing.duration:.1f} s, the maximum is "
                f"{self.max_audio_seconds:g} s",
                "invalid_request_audio",
                "3052",
            )
        for predicate, status in self._predicates:
            if predicate(call):
                return web.json_response(_default_failure_body(status), status=status)

        answer_at = begun + self.latency + self.latency_per_audio_second * hearing.duration
        delay = answer_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        answer = self._response(texts, hearing)
        if _flag(texts, "stream") and request is not None:
            return await self._stream(request, call, answer)
        call.response = answer
        return web.json_response(call.response)

    async def _hang(self, seconds: float) -> None:
        assert self._release is not None
        release = self._release
        self.hanging += 1
        await self._notify()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), seconds)
        finally:
            self.hanging -= 1
            await self._notify()

    def _next_failure(self, failures: list[_Failure] | None = None) -> web.Response | None:
        failures = self._failures if failures is None else failures
        if not failures:
            return None
        failure = failures[0]
        if failure.times > 0:
            failure.times -= 1
            if failure.times == 0:
                failures.pop(0)
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        if failure.body is None:
            return web.json_response(
                _default_failure_body(failure.status), status=failure.status, headers=headers
            )
        try:
            json.loads(failure.body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain"
        return web.Response(
            text=failure.body, status=failure.status, content_type=content_type, headers=headers
        )

    def _validate(self, texts: dict[str, list[str]], sources: list[str]) -> web.Response | None:
        if "file" in texts:
            return _not_a_file()
        model = texts.get("model", [""])[-1]
        if not model:
            return _validation_error(["body", "model"], "Field required", "missing", None)
        if len(sources) != 1:
            return _validation_error(
                ["body"],
                "Value error, Exactly one of file, file_url or file_id must be provided",
                "value_error",
                sources,
            )
        if "file_url" in texts:
            url = texts["file_url"][-1]
            if len(url) > 2083 or not _absolute_url(url):
                return _validation_error(
                    ["body", "file_url"], "Input should be a valid URL", "url_parsing", url
                )
        for value in texts.get("timestamp_granularities", []):
            if value not in TIMESTAMP_GRANULARITIES:
                return _validation_error(
                    ["body", "timestamp_granularities", 0],
                    "Input should be 'segment' or 'word'",
                    "enum",
                    value,
                )
        language = texts.get("language", [""])[-1]
        if language and not (len(language) == 2 and language.isalnum()):
            return _validation_error(
                ["body", "language"],
                "String should match pattern '^\\w{2}$'",
                "string_pattern_mismatch",
                language,
            )
        return self._validate_options(texts)

    def _response(self, texts: dict[str, list[str]], hearing: Hearing) -> dict[str, Any]:
        language = texts.get("language", [""])[-1] or None
        timestamps = bool(texts.get("timestamp_granularities"))
        words = [self.vocabulary[w.index % len(self.vocabulary)] for w in hearing.words]
        bias = {term.casefold() for term in texts.get("context_bias", [])}
        words = [w if w.casefold() in bias else self.mishear.get(w, w) for w in words]
        segments = [
            {
                "text": text,
                "start": round(w.start, 1),
                "end": round(w.end, 1),
                "type": "transcription_segment",
            }
            for text, w in zip(words, hearing.words, strict=True)
        ]
        if _flag(texts, "diarize"):
            for segment, speaker in zip(segments, self._speakers(hearing.words), strict=True):
                segment["speaker_id"] = speaker
        if language and timestamps:
            # The real API answers an empty transcript for this combination.
            words, segments = [], []
        elif not timestamps:
            segments = []
        text = " ".join(words)
        seconds = math.ceil(round(hearing.duration, 3))
        completion = len(text) // 4 + 1
        return {
            "model": texts["model"][-1],
            "text": text,
            "language": language or "en",
            "segments": segments,
            "usage": {
                "prompt_audio_seconds": seconds,
                "prompt_tokens": 4,
                "completion_tokens": completion,
                "total_tokens": 4 + completion + round(12.5 * seconds),
                "request_count": 1,
            },
            "finish_reason": "stop",
        }

    def _validate_options(self, texts: dict[str, list[str]]) -> web.Response | None:
        """stream, diarize and context_bias as the spec types them; refuse_context_bias."""
        for name in ("stream", "diarize"):
            value = texts.get(name, ["false"])[-1]
            if value.strip().lower() not in _TRUE + _FALSE:
                return _validation_error(
                    ["body", name],
                    "Input should be a valid boolean, unable to interpret input",
                    "bool_parsing",
                    value,
                )
        if _flag(texts, "diarize") and "segment" not in texts.get("timestamp_granularities", []):
            return _validation_error(
                ["body", "diarize"],
                "Value error, diarize requires timestamp_granularities=['segment']",
                "value_error",
                True,
            )
        bias = texts.get("context_bias", [])
        if len(bias) > MAX_CONTEXT_BIAS:
            return _validation_error(
                ["body", "context_bias"],
                f"List should have at most {MAX_CONTEXT_BIAS} items after validation, "
                f"not {len(bias)}",
                "too_long",
                bias,
            )
        for index, term in enumerate(bias):
            if not CONTEXT_BIAS_ITEM.match(term):
                return _validation_error(
                    ["body", "context_bias", index],
                    "String should match pattern '^[^,\\s]+$'",
                    "string_pattern_mismatch",
                    term,
                )
        if bias and self.refuse_context_bias:
            model = texts.get("model", [""])[-1]
            return _error(
                422,
                f"context_bias is not supported for model {model}",
                "invalid_request_error",
                "3001",
            )
        return None

    def _speakers(self, words: list[HeardWord]) -> list[str]:
        """Each word's speaker by the module docstring's rule: turns, then the turn's pitch band."""
        turns: list[list[HeardWord]] = []
        for word in words:
            if turns and word.start - turns[-1][-1].end < TURN_PAUSE_SECONDS:
                turns[-1].append(word)
            else:
                turns.append([word])
        labels: dict[bool, str] = {}
        speakers: list[str] = []
        for turn in turns:
            high = sum(w.freq for w in turn) / len(turn) >= SPEAKER_SPLIT_HZ
            if high not in labels:
                labels[high] = self.speaker_format.format(n=len(labels) + 1)
            speakers.extend([labels[high]] * len(turn))
        return speakers

    async def _stream(
        self, request: web.Request, call: TranscriptionCall, answer: dict[str, Any]
    ) -> web.StreamResponse | None:
        """Send the answer as transcription events, word by word; None to drop the connection."""
        call.stream = True
        cut = self._stream_breaks.pop(0) if self._stream_breaks else None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await _send_event(
            response, "transcription.language", {"audio_language": answer["language"]}
        )
        segments = answer["segments"]
        words = [s["text"] for s in segments] if segments else answer["text"].split()
        for n, word in enumerate(words):
            if cut is not None and n == cut.after:
                break
            await asyncio.sleep(self.stream_first_delay if n == 0 else self.stream_gap)
            await _send_event(response, "transcription.text.delta", {"text": f" {word}"[n == 0 :]})
            if segments:
                segment = {k: v for k, v in segments[n].items() if k != "type"}
                await _send_event(response, "transcription.segment", segment)
        if cut is not None:
            call.broken = cut.how
            if cut.how == "drop":
                return None  # _transcribe() aborts the connection
            if cut.how == "garbage":
                await response.write(b'event: transcription.segment\ndata: {"text": "cut\n\n')
            await response.write_eof()
            return response
        done = {k: answer[k] for k in ("model", "text", "language", "segments", "usage")}
        await _send_event(response, "transcription.done", done)
        await response.write_eof()
        call.response = answer
        return response

    # --- models and chat -------------------------------------------------------------------

    def _model_card(self, model_id: str) -> dict[str, Any]:
        capabilities = self.models[model_id]
        flags = {name: name in capabilities for name in MODEL_CAPABILITIES}
        flags.update({name: True for name in capabilities})
        return {
            "id": model_id,
            "object": "model",
            "created": 1756746619,
            "owned_by": "mistralai",
            "capabilities": flags,
            "name": model_id,
            "description": f"{model_id} (fake)",
            "max_context_length": 32768,
            "aliases": [],
            "deprecation": None,
            "deprecation_replacement_model": None,
            "default_model_temperature": None,
            "type": "base",
        }

    async def _list_models(self, request: web.Request) -> web.Response:
        data = [self._model_card(m) for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _retrieve_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return _error(404, f"Model {model_id} not found", "invalid_request_error", "1500")
        return web.json_response(self._model_card(model_id))

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        call = ChatCall(body)
        self.chats.append(call)
        response = self._next_failure(self._chat_failures) or self._chat_answer(call)
        call.status = response.status
        return response

    def _chat_answer(self, call: ChatCall) -> web.Response:
        invalid = _validate_chat(call.body)
        if invalid is not None:
            return invalid
        model = call.body["model"]
        if "completion_chat" not in self.models.get(model, set()):
            return _error(400, f"Invalid model: {model}", "invalid_model", "1500")
        call.content = chat_answer(call.messages)
        prompt = sum(len(_text(m.get("content"))) // 4 + 1 for m in call.messages)
        completion = len(call.content) // 4 + 1
        message = {"role": "assistant", "content": call.content, "tool_calls": None}
        return web.json_response(
            {
                "id": uuid.uuid4().hex,
                "object": "chat.completion",
                "model": model,
                "created": int(time.time()),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )


def chat_answer(messages: Sequence[dict[str, Any]]) -> str:
    """The fake's deterministic chat answer.

    The material is the last user message; the instructions are the other messages (system
    prompts, earlier turns), or the material itself when there are none. n counts the material's
    words and "first words" are its first eight.

    - Instructions mentioning "summar": `SUMMARY(<n>): <first words>`.
    - Instructions mentioning "translat" and naming a target as "into xx", "to xx" or
      "language: xx" (an ISO code or an English name, e.g. "into French"): every line of the
      material prefixed with `[xx] `.
    - Anything else: `REPLY(<n>): <first words>`.
    """
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    material = _text(messages[users[-1]].get("content")) if users else ""
    others = [
        _text(m.get("content")) for i, m in enumerate(messages) if not users or i != users[-1]
    ]
    instructions = " ".join(others) if any(others) else material
    words = material.split()
    lowered = instructions.casefold()
    if "summar" in lowered:
        return f"SUMMARY({len(words)}): {' '.join(words[:8])}"
    target = _target_language(lowered) if "translat" in lowered else None
    if target is not None:
        return "\n".join(f"[{target}] {line}" for line in material.split("\n"))
    return f"REPLY({len(words)}): {' '.join(words[:8])}"


def _target_language(instructions: str) -> str | None:
    codes = set(LANGUAGE_NAMES.values())
    for match in re.finditer(r"\b(?:into|to|language:?)\s+([a-z]+)", instructions):
        name = match.group(1)
        if name in codes:
            return name
        if name in LANGUAGE_NAMES:
            return LANGUAGE_NAMES[name]
    return None


def _text(content: Any) -> str:
    """A message's content as text: a string, or its text chunks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


def _validate_chat(body: Any) -> web.Response | None:
    if not isinstance(body, dict):
        return _validation_error(
            ["body"], "Input should be a valid dictionary", "model_attributes_type", body
        )
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _validation_error(["body", "model"], "Field required", "missing", None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _validation_error(
            ["body", "messages"], "Input should be a non-empty list", "list_type", messages
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in CHAT_ROLES:
            return _validation_error(
                ["body", "messages", index, "role"],
                "Input tag not found",
                "union_tag_invalid",
                role,
            )
        if not isinstance(message.get("content"), str | list):
            return _validation_error(
                ["body", "messages", index, "content"],
                "Input should be a valid string",
                "string_type",
                message.get("content"),
            )
    if body.get("stream"):
        return _error(400, "The fake answers chat without streaming", "invalid_request_error", None)
    return None


def _flag(texts: dict[str, list[str]], name: str) -> bool:
    """A boolean form field (checked by _validate_options()); false when absent."""
    return texts.get(name, ["false"])[-1].strip().lower() in _TRUE


async def _send_event(response: web.StreamResponse, kind: str, data: dict[str, Any]) -> None:
    payload = json.dumps({"type": kind, **data}, ensure_ascii=False)
    await response.write(f"event: {kind}\ndata: {payload}\n\n".encode())


def _absolute_url(raw: str) -> bool:
    try:
        url = URL(raw)
    except (TypeError, ValueError):
        return False
    return url.absolute and url.scheme in ("http", "https")


def _not_a_file() -> web.Response:
    return _validation_error(
        ["body", "file"], "Expected UploadFile, received: <class 'str'>", "value_error", None
    )


def _not_found() -> web.Response:
    return web.json_response({"detail": "File not found"}, status=404)


async def _read_form(
    request: web.Request,
) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, bytes]]]] | web.Response:
    """Text fields and file parts (filename, bytes) of a form body, or a 422."""
    texts: dict[str, list[str]] = {}
    files: dict[str, list[tuple[str, bytes]]] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        # FastAPI's form parsing, behind the real API, takes this too when no file is sent.
        for key, value in (await request.post()).items():
            texts.setdefault(key, []).append(str(value))
        return texts, files
    if request.content_type != "multipart/form-data":
        return _validation_error(
            ["body"], "Input should be multipart/form-data", "model_attributes_type", None
        )
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if part.filename is not None:
                files.setdefault(name, []).append((part.filename, bytes(await part.read())))
            else:
                texts.setdefault(name, []).append(await part.text())
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        return _validation_error(["body"], f"Invalid multipart body: {exc}", "value_error", None)
    return texts, files
