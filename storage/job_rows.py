"""A job row, as a handler writes it and as a worker reads it, and the outcome of writing it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

from bot.domain.options import TranscriptionOptions
from storage.db import Row


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a handler knows when it accepts a note."""

    chat_id: int
    message_id: int
    chat_type: str
    thread_id: int | None
    payer_id: int
    author_id: int | None
    """Who sent the note: on a group's /transcribe, not the payer."""
    trigger: str
    kind: str
    file_id: str
    file_size: int | None
    file_name: str | None
    declared_seconds: int | None
    header: str | None
    language: str | None
    user_language: str | None
    period: str
    speakers: bool = field(default=False, kw_only=True)
    """Label who speaks (read at admission, as `language`)."""
    vocabulary: str | None = field(default=None, kw_only=True)
    """The `context_bias` terms, space-separated (a term holds no whitespace); None: none."""

    @property
    def options(self) -> TranscriptionOptions:
        """How the note is to be transcribed, as read at admission."""
        return TranscriptionOptions(
            language=self.language,
            speakers=bool(self.speakers),
            vocabulary=tuple(self.vocabulary.split()) if self.vocabulary else (),
        )

    file_unique_id: str | None = field(default=None, kw_only=True)
    """The recording (Telegram's file_unique_id): a retained transcript of it may be reused."""
    options_key: str | None = field(default=None, kw_only=True)
    """`options.key()` as read at admission: a kept transcript is reused only with the same."""
    chat_kind: str = field(default="bot", kw_only=True)
    """`bot`: a chat the bot is in. `guest`: a chat it was summoned to (Guest Mode), whose id
    may be that of another chat of the bot; its message_id is the mention's, negated, so its
    key never meets a note of the bot's own chats."""
    inline_message_id: str | None = field(default=None, kw_only=True)
    """Guest Mode: the inline message that answered the guest query, edited into the result."""


@dataclass(frozen=True, slots=True)
class Job(NewJob):
    """A job row as workers see it: what the handler knew, plus its progress."""

    id: int
    reserved_seconds: int
    billed_seconds: int | None
    status: str
    error: str | None
    status_message_id: int | None
    attempts: int
    created_at: int
    lease_owner: str | None = None
    lease_until: int | None = None
    batch_plan: str | None = None
    batch_id: str | None = None
    batch_seconds: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> Job:
        keys = set(row.keys())
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in keys})


class Accepted(Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    OVER_QUOTA = "over_quota"
    TOO_MANY = "too_many"
    """The payer already has `max_pending` notes queued or running."""


@dataclass(frozen=True, slots=True)
class Acceptance:
    outcome: Accepted
    job_id: int | None = None
    left_seconds: int | None = None
