"""A note to transcribe, as a plain request: what was sent, where, and who pays."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from bot.domain.jobs import Trigger

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".m4a",
        ".aac",
        ".ogg",
        ".oga",
        ".opus",
        ".wav",
        ".flac",
        ".amr",
        ".wma",
        ".weba",
        ".webm",
        ".mp4",
        ".mkv",
        ".mov",
        ".3gp",
        ".caf",
        ".aiff",
        ".aif",
    }
)


class Kind(StrEnum):
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO_NOTE = "video_note"
    VIDEO = "video"
    DOCUMENT = "document"


AUTO_KINDS = frozenset({Kind.VOICE, Kind.AUDIO, Kind.VIDEO_NOTE})
"""Kinds a group's auto mode transcribes: the things people send to be heard. Videos and
documents in a group are only transcribed on request (/transcribe), to stay quiet."""


def is_audio_document(mime_type: str | None, file_name: str | None) -> bool:
    """Whether a document is worth trying as audio: by MIME type or by extension."""
    mime = (mime_type or "").lower()
    suffix = PurePath(file_name or "").suffix.lower()
    return mime.startswith(("audio/", "video/")) or suffix in AUDIO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class Note:
    """The transcribable media of a message, as Telegram describes it."""

    kind: Kind
    file_id: str
    file_size: int | None
    duration: float | None
    """Seconds as the sender's client declared them; None when unknown."""
    file_name: str | None
    file_unique_id: str | None = None
    """The same for every copy of one recording, however often it is forwarded."""


@dataclass(frozen=True, slots=True)
class NoteRequest:
    """A note someone wants transcribed, with everything admission needs and nothing of Telegram."""

    note: Note
    chat_id: int
    chat_type: str
    message_id: int
    thread_id: int | None
    payer_id: int
    payer_language: str | None
    """The payer's Telegram language: the language of every answer about this note."""
    author_id: int | None
    trigger: Trigger
    forwarded_from: str | None = None
    """The original sender's name of a forwarded note, for the transcript's header."""
    chat_kind: str = "bot"
    """`bot`, or `guest`: a chat the bot was summoned to (storage.job_rows.NewJob.chat_kind)."""
    inline_message_id: str | None = None
    """Guest Mode: the inline message answering the guest query."""

    @property
    def private(self) -> bool:
        return self.chat_type == "private"

    @property
    def quiet(self) -> bool:
        """A group's auto mode: no status message, no refusals."""
        return self.trigger is Trigger.AUTO
