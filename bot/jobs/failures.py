"""Why a job fails, told to the user in their words: one place maps errors to answers."""

from __future__ import annotations

import logging

from bot.domain.jobs import Failure
from bot.i18n import texts
from bot.transcription import audio
from bot.transcription.mistral import (
    MistralAuthError,
    MistralBadResponse,
    MistralUnavailable,
)

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """The job cannot succeed; `reply` is what the user is told (in their language), `code`
    what is stored."""

    def __init__(self, code: Failure, reply: str) -> None:
        super().__init__(code)
        self.code = code
        self.reply = reply


def transcription_failed(exc: Exception, t: texts.Texts) -> JobFailed:
    """The answer for an error raised while transcribing (audio or Mistral)."""
    if isinstance(exc, audio.AudioError):
        return JobFailed(Failure.UNREADABLE, t(texts.UNREADABLE))
    if isinstance(exc, MistralUnavailable | MistralBadResponse):
        # A garbled answer is trouble on Mistral's side too: the user may try later.
        return JobFailed(Failure.MISTRAL_UNAVAILABLE, t(texts.SERVICE_BUSY))
    if isinstance(exc, MistralAuthError):
        log.error("mistral refused the API key: check MISTRAL_API_KEY")
        return JobFailed(Failure.MISTRAL_AUTH, t(texts.FAILED))
    return JobFailed(Failure.MISTRAL_REJECTED, t(texts.SERVICE_REFUSED))
