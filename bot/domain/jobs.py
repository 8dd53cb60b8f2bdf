"""A job's states, what started it and why it failed: the words job rows store."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Trigger(StrEnum):
    """How a note reached the bot; it decides who is told what."""

    PRIVATE = "private"
    """Sent or forwarded to the bot in a private chat."""
    AUTO = "auto"
    """Posted in a group with auto mode on: quiet, no status message, no refusals."""
    COMMAND = "command"
    """/transcribe as a reply: refusals answer the command."""
    GUEST = "guest"
    """Guest Mode: the bot was mentioned in reply to a note in a chat it is not in; everything
    it says is the one inline message answering the guest query."""


class Failure(StrEnum):
    """Why a job ended without a transcript (the `error` column)."""

    GAVE_UP = "gave_up"
    CRASHED = "crashed"
    TOO_BIG = "too_big"
    TOO_LONG = "too_long"
    OVER_QUOTA = "over_quota"
    DOWNLOAD_FAILED = "download_failed"
    UNREADABLE = "unreadable"
    MISTRAL_UNAVAILABLE = "mistral_unavailable"
    MISTRAL_AUTH = "mistral_auth"
    MISTRAL_REJECTED = "mistral_rejected"
    FORGOTTEN = "forgotten"
    """Its batch was cancelled: the payer or the author sent /forgetme while it waited."""
    UNDELIVERED = "undelivered"
    """Transcribed and charged, but Telegram did not take the transcript: refused it (not for
    a blocked bot or a gone chat, which end the job done) or stayed unavailable past
    DELIVERY_BOUND."""
