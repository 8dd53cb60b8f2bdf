"""What Mistral's forms and answers look like on the wire: the transcription event stream, the
`context_bias` rule, segments, model cards and chat answers. Retries and errors are mistral.py's."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bot.domain.transcript import Segment

log = logging.getLogger("bot.transcription.mistral")

MAX_CONTEXT_BIAS = 100  # the documented limit on items
_BIAS_ITEM = re.compile(r"^[^,\s]+$")  # the spec's pattern for one item


class StreamBroken(Exception):
    """The event stream ended, dropped or went malformed after it had started."""


def check_context_bias(terms: Sequence[str]) -> list[str]:
    """The terms as a list; ValueError if one breaks the spec's pattern or there are too many."""
    if isinstance(terms, str):
        raise ValueError("context_bias is a sequence of terms, not one string")
    items = list(terms)
    if len(items) > MAX_CONTEXT_BIAS:
        raise ValueError(f"context_bias has {len(items)} items; at most {MAX_CONTEXT_BIAS}")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not _BIAS_ITEM.match(item):
            # The item itself may be a user's private vocabulary: name its place, not its text.
            raise ValueError(f"context_bias item {index} is empty or holds a comma or a space")
    return items


def transcription_options(
    *, language: str | None, diarize: bool, bias: Sequence[str]
) -> dict[str, Any]:
    """The form fields for diarization and context bias; ValueError for what the API refuses."""
    options: dict[str, Any] = {}
    if diarize:
        if language:
            raise ValueError("diarize needs segment timestamps, which a pinned language rules out")
        options["diarize"] = "true"
    terms = check_context_bias(bias)
    if terms:
        options["context_bias"] = terms  # a list: httpx repeats the field per item
    return options


def segment_from(raw: Any) -> Segment:
    """A Segment from a segment object of an answer or an event; KeyError/TypeError/ValueError
    if it lacks text or times."""
    speaker = raw.get("speaker_id")
    return Segment(
        start=float(raw["start"]),
        end=float(raw["end"]),
        text=str(raw["text"]),
        speaker=str(speaker) if speaker is not None else None,
    )


def is_event_stream(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("text/event-stream")


async def send_streamed(
    http: httpx.AsyncClient, request: httpx.Request, on_segment: Callable[[Segment], None]
) -> httpx.Response:
    """Send a `stream=true` transcription and read its events into a response like a plain
    request's; an error status, or JSON where a stream was asked, comes back as it is."""
    response = await http.send(request, stream=True)
    try:
        if response.status_code != 200 or not is_event_stream(response):
            await response.aread()
            return response
        body = await read_transcription_stream(response, on_segment)
    finally:
        await response.aclose()
    log.debug("mistral transcribe stream done segments=%d", len(body["segments"]))
    return httpx.Response(200, json=body, request=request)


async def read_transcription_stream(
    response: httpx.Response, on_segment: Callable[[Segment], None]
) -> dict[str, Any]:
    """Read a streamed transcription, calling on_segment per segment event as it comes; return
    an answer shaped like the plain request's (segments in order, the done event's usage).

    StreamBroken if the connection drops, an event is malformed or no done event comes.
    """
    language: str | None = None
    segments: list[dict[str, Any]] = []
    async for kind, data in _events(response):
        if kind == "transcription.language":
            language = data.get("audio_language") if isinstance(data, dict) else None
        elif kind == "transcription.segment":
            try:
                segment = segment_from(data)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise StreamBroken("malformed segment event") from exc
            segments.append(data)
            on_segment(segment)
        elif kind == "transcription.done":
            return _done_answer(data, segments, language)
        # transcription.text.delta and event types added later carry nothing the answer needs.
    raise StreamBroken("the stream ended without a done event")


def _done_answer(done: Any, segments: list[dict[str, Any]], language: str | None) -> dict[str, Any]:
    if not isinstance(done, dict) or not isinstance(done.get("usage"), dict):
        raise StreamBroken("malformed done event")
    return {
        "model": done.get("model"),
        "text": done.get("text") or "",
        "language": done.get("language") or language,
        # The segment events are the segments; a done event may repeat them or leave them out.
        "segments": segments or done.get("segments") or [],
        "usage": done["usage"],
    }


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event type, decoded data) per server-sent event: `event:` names it, else data's `type`."""
    kind = ""
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                continue  # comments (":…"), id and retry lines carry nothing here
            if data:
                yield _decoded(kind, data)
            kind, data = "", []
    except httpx.TransportError as exc:  # timeouts included
        raise StreamBroken(f"connection lost: {type(exc).__name__}") from exc
    if data:
        yield _decoded(kind, data)


def _decoded(kind: str, data: list[str]) -> tuple[str, Any]:
    try:
        value = json.loads("\n".join(data))
    except ValueError as exc:
        raise StreamBroken("an event's data is not JSON") from exc
    if not isinstance(value, dict):
        raise StreamBroken("an event's data is not an object")
    return kind or str(value.get("type") or ""), value


def capabilities(body: Any, model: str) -> set[str] | None:
    """The names of the capabilities `model` has in a GET /v1/models answer, None if unlisted.

    The spec's schema wraps the cards in `{"object": "list", "data": [...]}`; its example is a
    bare list: both are read. A model is found by its id or one of its aliases."""
    cards = body.get("data") if isinstance(body, dict) else body
    if not isinstance(cards, list):
        raise ValueError("models answer holds no list")
    for card in cards:
        if not isinstance(card, dict):
            continue
        aliases = card.get("aliases")
        if card.get("id") == model or (isinstance(aliases, list) and model in aliases):
            flags = card.get("capabilities")
            if not isinstance(flags, dict):
                return set()
            return {name for name, value in flags.items() if value is True}
    return None


def chat_content(body: Any) -> str:
    """choices[0].message.content of a chat answer, text chunks joined; ValueError if absent."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError("chat answer lacks choices[0].message.content") from exc
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(chunk.get("text", ""))
            for chunk in content
            if isinstance(chunk, dict) and chunk.get("type") == "text"
        )
    raise ValueError("chat answer content is neither text nor chunks")


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # An HTTP date: rare from an API; fall back to backoff.


def error_message(response: httpx.Response) -> str:
    """Mistral's own error text, shortened: it names the problem without quoting secrets."""
    try:
        body = response.json()
    except ValueError:
        return "<not json>"
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or ""
        if isinstance(message, dict):
            message = message.get("detail") or message
        if isinstance(message, list):
            # Validation details echo the refused input (a transcript, a term): keep where and why.
            message = [(d.get("loc"), d.get("msg")) for d in message if isinstance(d, dict)]
        return str(message)[:200]
    return "<unexpected>"


@dataclass(frozen=True, slots=True)
class ReadTimeout:
    """How long one transcription request may take to answer, from its audio's length:
    `base` plus `per_audio_second` for each second, at most the client's read timeout."""

    base: float = 30.0
    per_audio_second: float = 2.0

    def for_audio(self, seconds: float, cap: float) -> float:
        return min(cap, self.base + self.per_audio_second * max(0.0, seconds))


@dataclass(frozen=True, slots=True)
class Deadline:
    """How long one note's whole transcription may take, uploads, waits for a slot and retries
    included: `per_audio_second` for each second of audio, at least `minimum` seconds. Past
    it the note fails as Mistral's trouble, and its slots are free for the others."""

    minimum: float = 180.0
    per_audio_second: float = 3.0

    def for_audio(self, seconds: float) -> float:
        return max(self.minimum, self.per_audio_second * seconds)
