"""Mistral API client on httpx: upload, signed URL, transcription, delete — with bounded retries.

Retries use tenacity (exponential backoff with jitter, a bound on attempts) rather than a hand-made
loop; 429 answers wait what `Retry-After` says. Only 429, 5xx, timeouts and dropped connections are
retried: any other 4xx is the request's fault and retrying would only cost money.

Besides transcription: streamed transcription (segments as they come), diarization, context bias,
the model list and chat completions. Transcript and chat text is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from bot import net
from bot.domain.transcript import Segment, Transcript
from bot.transcription.mistral_wire import (
    ReadTimeout,
    StreamBroken,
    capabilities,
    chat_content,
    error_message,
    retry_after,
    segment_from,
    send_streamed,
    transcription_options,
)

log = logging.getLogger(__name__)


class MistralError(Exception):
    """A Mistral request failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MistralAuthError(MistralError):
    """The API key was refused (401/403): an operator must fix it."""


class MistralRejected(MistralError):
    """Mistral refused the request itself (a 4xx other than 429): not retried."""


class MistralBiasRefused(MistralRejected):
    """422 naming `context_bias`: this model takes no context bias; ask again without it."""


class MistralBadResponse(MistralError):
    """Mistral answered something that is not the JSON the API describes."""


class MistralUnavailable(MistralError):
    """Temporary trouble (429, 5xx, timeout, dropped connection) that outlasted the retries."""


class MistralRateLimited(MistralUnavailable):
    """429: too many requests; `retry_after` is Mistral's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts in all, first backoff, longest single wait (seconds)."""

    attempts: int = 5
    initial: float = 1.0
    max_wait: float = 30.0


DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=120.0, pool=30.0)
"""Every request's bounds; a transcription's read bound is shorter for shorter audio."""
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32)
"""Uploads run beside transcriptions: 32 connections are kept open for the next requests."""


class MistralClient:
    """The four calls the bot needs, each with a timeout and bounded retries."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        retry: RetryPolicy = RetryPolicy(),
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        read_timeout: ReadTimeout | None = None,
    ) -> None:
        self.model = model
        self._retry = retry
        self._timeout = timeout
        self._read_timeout = read_timeout or ReadTimeout()
        # Exponential backoff plus jitter so that many jobs do not retry in lockstep.
        self._backoff = wait_exponential(
            multiplier=retry.initial, max=retry.max_wait
        ) + wait_random(0, retry.initial)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=net.transport(LIMITS),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload(self, path: Path) -> str:
        """Upload an audio file with `purpose=audio`; return its file id."""

        async def send() -> httpx.Response:
            with path.open("rb") as audio:
                return await self._http.post(
                    "/v1/files",
                    data={"purpose": "audio"},
                    files={"file": (path.name, audio, "application/octet-stream")},
                )

        body = await self._call("upload", send)
        return str(_field(body, "id"))

    async def signed_url(self, file_id: str, expiry_hours: int = 1) -> str:
        """A short-lived URL Mistral can read the uploaded file from."""

        async def send() -> httpx.Response:
            return await self._http.get(f"/v1/files/{file_id}/url", params={"expiry": expiry_hours})

        body = await self._call("signed_url", send)
        return str(_field(body, "url"))

    async def delete(self, file_id: str, *, attempts: int | None = None) -> None:
        """Delete an uploaded file (in `attempts` tries, if given, rather than the policy's);
        a file already gone counts as deleted."""

        async def send() -> httpx.Response:
            return await self._http.delete(f"/v1/files/{file_id}")

        try:
            await self._call("delete", send, attempts=attempts)
        except MistralRejected as exc:
            if exc.status != 404:
                raise

    async def transcribe(
        self,
        *,
        file_url: str | None = None,
        path: Path | None = None,
        language: str | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        diarize: bool = False,
        context_bias: Sequence[str] = (),
        audio_seconds: float | None = None,
    ) -> Transcript:
        """Transcribe from a signed URL, or send the file itself (`UPLOAD_MODE=direct`).

        With a language pinned no timestamps are asked for: the API answers an empty transcript
        when `language` and `timestamp_granularities` come together. Given the audio's length,
        each attempt waits for the answer only as long as that audio can take (ReadTimeout):
        a stalled request of a short note is retried or given up in seconds, not minutes.

        `on_segment` streams the answer and previews each segment as it arrives; the returned
        Transcript is the authority (a stream that breaks is asked again without streaming).
        `diarize` names each segment's speaker (it needs timestamps: no pinned language).
        `context_bias` terms steer the spelling of names; MistralBiasRefused if the model
        refuses them. ValueError for a term that breaks the API's rule or more than 100 terms.
        """
        if (file_url is None) == (path is None):
            raise ValueError("give exactly one of file_url and path")
        extra = transcription_options(language=language, diarize=diarize, bias=context_bias)
        fields: dict[str, Any] = {"model": self.model}
        if language:
            fields["language"] = language
        else:
            fields["timestamp_granularities"] = ["segment"]
        if file_url is not None:
            fields["file_url"] = file_url
        fields.update(extra)
        timeout = self._timeout_for(audio_seconds)

        async def send() -> httpx.Response:
            if path is None:
                return await self._http.post(
                    "/v1/audio/transcriptions", data=fields, timeout=timeout
                )
            with path.open("rb") as audio:
                return await self._http.post(
                    "/v1/audio/transcriptions",
                    data=fields,
                    files={"file": (path.name, audio, "application/octet-stream")},
                    timeout=timeout,
                )

        if on_segment is not None:
            streamed = await self._transcribe_streaming(fields, path, on_segment, timeout)
            if streamed is not None:
                return streamed
        body = await self._call("transcribe", _bias_guarded(send, fields))
        return _parse_transcription(body, timestamps=not language)

    def _timeout_for(self, audio_seconds: float | None) -> httpx.Timeout:
        """The client's timeouts, with the read timeout scaled to the audio's length."""
        timeout = self._timeout
        if audio_seconds is None or timeout.read is None:
            return timeout
        read = self._read_timeout.for_audio(audio_seconds, cap=timeout.read)
        return httpx.Timeout(
            connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool
        )

    async def _transcribe_streaming(
        self,
        fields: dict[str, Any],
        path: Path | None,
        on_segment: Callable[[Segment], None],
        limits: httpx.Timeout,
    ) -> Transcript | None:
        """Transcribe with `stream=true`; None if the stream broke after it had started."""
        fields = {**fields, "stream": "true"}

        async def send() -> httpx.Response:
            if path is None:
                request = self._http.build_request(
                    "POST", _TRANSCRIPTIONS, data=fields, timeout=limits
                )
                return await send_streamed(self._http, request, on_segment)
            with path.open("rb") as audio:
                request = self._http.build_request(
                    "POST",
                    _TRANSCRIPTIONS,
                    data=fields,
                    files={"file": (path.name, audio, "application/octet-stream")},
                    timeout=limits,
                )
                return await send_streamed(self._http, request, on_segment)

        try:
            body = await self._call("transcribe", _bias_guarded(send, fields))
        except StreamBroken as exc:
            # Whatever was previewed, the transcript (and the bill) comes from a plain request.
            log.warning("mistral transcribe stream broke (%s); asking without streaming", exc)
            return None
        return _parse_transcription(body, timestamps="language" not in fields)

    async def model_capabilities(self, model: str) -> set[str] | None:
        """The capabilities `model` has (e.g. "audio_transcription"); None if Mistral lists no
        such model."""

        async def send() -> httpx.Response:
            return await self._http.get("/v1/models")

        body = await self._call("models", send)
        try:
            return capabilities(body, model)
        except ValueError as exc:
            raise MistralBadResponse("models: answer holds no model list") from exc

    async def chat(self, messages: list[dict[str, str]], *, model: str) -> str:
        """Ask a chat model (`messages` of `role` and `content`); return its answer's text."""
        payload = {"model": model, "messages": messages}

        async def send() -> httpx.Response:
            return await self._http.post("/v1/chat/completions", json=payload)

        body = await self._call("chat", send)
        try:
            return chat_content(body)
        except ValueError as exc:
            raise MistralBadResponse("chat: answer lacks the message content") from exc

    async def _call(
        self,
        what: str,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        attempts: int | None = None,
    ) -> Any:
        """Send with retries; return the decoded JSON body or raise a typed MistralError."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts or self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(MistralUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(what, send, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, what: str, send: Callable[[], Awaitable[httpx.Response]], attempt: int
    ) -> Any:
        started = time.monotonic()
        try:
            response = await send()
        except httpx.TimeoutException as exc:
            log.warning("mistral %s attempt=%d timed out", what, attempt)
            raise MistralUnavailable(f"{what}: timed out") from exc
        except httpx.TransportError as exc:
            log.warning("mistral %s attempt=%d connection failed: %s", what, attempt, type(exc))
            raise MistralUnavailable(f"{what}: connection failed") from exc
        took_ms = int((time.monotonic() - started) * 1000)
        status = response.status_code
        log.debug("mistral %s attempt=%d status=%d took_ms=%d", what, attempt, status, took_ms)
        if status == 429:
            wait = retry_after(response)
            log.warning("mistral %s attempt=%d rate limited retry_after=%s", what, attempt, wait)
            raise MistralRateLimited(f"{what}: rate limited", wait)
        if status >= 500:
            log.warning("mistral %s attempt=%d status=%d", what, attempt, status)
            raise MistralUnavailable(f"{what}: server error {status}", status)
        if status in (401, 403):
            raise MistralAuthError(f"{what}: API key refused ({status})", status)
        if status >= 400:
            log.warning("mistral %s status=%d error=%s", what, status, error_message(response))
            raise MistralRejected(f"{what}: refused ({status})", status)
        try:
            return response.json()
        except ValueError as exc:
            raise MistralBadResponse(f"{what}: answer is not JSON", status) from exc

    def _wait(self, state: RetryCallState) -> float:
        """Wait what a 429's Retry-After asks, else back off exponentially with jitter."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, MistralRateLimited) and error.retry_after is not None:
            return min(error.retry_after, self._retry.max_wait)
        return float(self._backoff(state))


_TRANSCRIPTIONS = "/v1/audio/transcriptions"


def _bias_guarded(
    send: Callable[[], Awaitable[httpx.Response]], fields: dict[str, Any]
) -> Callable[[], Awaitable[httpx.Response]]:
    """`send`, raising MistralBiasRefused for a 422 about the context_bias it sent."""
    if not fields.get("context_bias"):
        return send

    async def guarded() -> httpx.Response:
        response = await send()
        if response.status_code == 422 and "context_bias" in response.text:
            log.warning("mistral transcribe context_bias refused status=422")
            raise MistralBiasRefused("transcribe: context_bias refused (422)", 422)
        return response

    return guarded


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise MistralBadResponse(f"answer lacks {name!r}")
    return body[name]


def _parse_transcription(body: Any, *, timestamps: bool) -> Transcript:
    """Read the fields the bot needs and ignore the rest, as the spec's gaps require."""
    if not isinstance(body, dict):
        raise MistralBadResponse("transcription answer is not an object")
    try:
        segments = tuple(segment_from(s) for s in body.get("segments") or ())
        text = str(body.get("text") or "")
        usage = body.get("usage") or {}
        billed = usage.get("prompt_audio_seconds")
        billed_seconds = int(billed) if billed is not None else 0
    except (KeyError, TypeError, ValueError) as exc:
        raise MistralBadResponse("transcription answer is malformed") from exc
    if not segments and text.strip():
        # No segment timestamps (a pinned language): one segment from the start of the audio.
        segments = (Segment(start=0.0, end=0.0, text=text),)
        timestamps = False
    return Transcript(
        segments=segments,
        language=body.get("language") if isinstance(body.get("language"), str) else None,
        billed_seconds=billed_seconds,
        timestamps=timestamps,
    )
