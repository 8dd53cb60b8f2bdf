"""Retained transcripts as stored: a JSON body with what the files need, and their names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.domain.transcript import Notice, Segment, Transcript


def encode(transcript: Transcript, header: str | None) -> str:
    """The JSON body stored for a transcript: what the files need, nothing else. A segment is
    [start, end, text], with its speaker as a fourth item when there is one."""
    body: dict[str, Any] = {
        "header": header,
        "language": transcript.language,
        "timestamps": transcript.timestamps,
        "billed_seconds": transcript.billed_seconds,
        "segments": [
            [s.start, s.end, s.text] if s.speaker is None else [s.start, s.end, s.text, s.speaker]
            for s in transcript.segments
        ],
    }
    if transcript.notices:
        body["notices"] = [notice.value for notice in transcript.notices]
    return json.dumps(body, ensure_ascii=False)


def _segment(item: list[Any]) -> Segment:
    start, end, text, *rest = item
    speaker = str(rest[0]) if rest and rest[0] is not None else None
    return Segment(float(start), float(end), str(text), speaker)


def decode(body: str) -> tuple[Transcript, str | None]:
    """The transcript and its header back from a stored body (bodies stored before speakers
    and notices existed have neither)."""
    data = json.loads(body)
    known = {notice.value for notice in Notice}
    transcript = Transcript(
        segments=tuple(_segment(item) for item in data["segments"]),
        language=data.get("language"),
        billed_seconds=int(data["billed_seconds"]),
        timestamps=bool(data["timestamps"]),
        notices=tuple(Notice(n) for n in data.get("notices", ()) if n in known),
    )
    return transcript, data["header"]


def file_name(created_at: int, extension: str) -> str:
    """transcript-2026-11-25-1402.txt: when the note was taken, in UTC."""
    return f"transcript-{datetime.fromtimestamp(created_at, UTC):%Y-%m-%d-%H%M}.{extension}"
