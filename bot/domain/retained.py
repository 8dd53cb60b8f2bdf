"""Retained transcripts as stored: a JSON body with what the files need, and their names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.domain.transcript import Segment, Transcript


def encode(transcript: Transcript, header: str | None) -> str:
    """The JSON body stored for a transcript: what the files need, nothing else."""
    return json.dumps(
        {
            "header": header,
            "language": transcript.language,
            "timestamps": transcript.timestamps,
            "billed_seconds": transcript.billed_seconds,
            "segments": [[s.start, s.end, s.text] for s in transcript.segments],
        },
        ensure_ascii=False,
    )


def decode(body: str) -> tuple[Transcript, str | None]:
    """The transcript and its header back from a stored body."""
    data = json.loads(body)
    segments = tuple(Segment(float(a), float(b), str(t)) for a, b, t in data["segments"])
    transcript = Transcript(
        segments=segments,
        language=data.get("language"),
        billed_seconds=int(data["billed_seconds"]),
        timestamps=bool(data["timestamps"]),
    )
    return transcript, data["header"]


def file_name(created_at: int, extension: str) -> str:
    """transcript-2026-11-25-1402.txt: when the note was taken, in UTC."""
    return f"transcript-{datetime.fromtimestamp(created_at, UTC):%Y-%m-%d-%H%M}.{extension}"
