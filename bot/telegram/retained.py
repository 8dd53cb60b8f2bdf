"""Retained transcripts: how they are stored, the buttons that fetch them, the files they give."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.transcript import Segment, Transcript
from bot.i18n import texts
from bot.telegram import render

# Callback data of the buttons: "srt:<transcript id>" or "txt:<transcript id>" (64 bytes max).
CALLBACK_PATTERN = re.compile(r"^(srt|txt):(\d{1,18})$")


def encode(transcript: Transcript, header: str | None) -> str:
    """The JSON body stored for a transcript: what the files need, nothing else."""
    return json.dumps(
        {
            "header": header,
            "timestamps": transcript.timestamps,
            "billed_seconds": transcript.billed_seconds,
            "segments": [[s.start, s.end, s.text] for s in transcript.segments],
        },
        ensure_ascii=False,
    )


def decode(body: str) -> tuple[Transcript, str | None]:
    data = json.loads(body)
    segments = tuple(Segment(float(a), float(b), str(t)) for a, b, t in data["segments"])
    transcript = Transcript(
        segments=segments,
        billed_seconds=int(data["billed_seconds"]),
        timestamps=bool(data["timestamps"]),
    )
    return transcript, data["header"]


def keyboard(transcript_id: int, t: texts.Texts) -> InlineKeyboardMarkup:
    """The buttons under a transcript."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(texts.BUTTON_SRT), callback_data=f"srt:{transcript_id}"),
                InlineKeyboardButton(t(texts.BUTTON_TXT), callback_data=f"txt:{transcript_id}"),
            ]
        ]
    )


def parse(data: str | None) -> tuple[str, int] | None:
    """(kind, transcript id) of a button's callback data, or None if it is not ours."""
    match = CALLBACK_PATTERN.match(data or "")
    return None if match is None else (match[1], int(match[2]))


def file_name(created_at: int, extension: str) -> str:
    """transcript-2026-11-25-1402.txt: when the note was taken, in UTC."""
    return f"transcript-{datetime.fromtimestamp(created_at, UTC):%Y-%m-%d-%H%M}.{extension}"


def as_file(body: str, kind: str, created_at: int) -> tuple[str, bytes]:
    """The file a button sends: SubRip subtitles or the timestamped plain text."""
    transcript, header = decode(body)
    if kind == "srt":
        return file_name(created_at, "srt"), render.render_srt(transcript).encode()
    return file_name(created_at, "txt"), render.render_plain(transcript, header=header).encode()
