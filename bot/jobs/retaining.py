"""Retained transcripts of a job: kept for their buttons, sent again after a restart, reused for
another note of the same recording."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain import retained
from bot.domain.transcript import Transcript
from storage import transcripts
from storage.db import Database
from storage.job_rows import Job
from storage.transcripts import NewTranscript

log = logging.getLogger(__name__)

Made = tuple[int, Transcript | None]
"""Seconds to bill, and the transcript (None: nothing was heard)."""


async def resumed(db: Database, job: Job, *, now: int) -> Made | None:
    """A job settled before a restart interrupted it: send its retained transcript again
    rather than pay Mistral twice for it (without one, it is transcribed again, unbilled)."""
    if job.billed_seconds is None:
        return None
    kept = await transcripts.of_job(db, job.id, now=now)
    if kept is None:
        log.info("job=%d settled, its transcript not retained: transcribing again", job.id)
        return None
    transcript, _ = retained.decode(kept.body)
    log.info("job=%d resending its retained transcript", job.id)
    return job.billed_seconds, transcript


async def reused(db: Database, job: Job, *, hours: int, now: int) -> Made | None:
    """The kept transcript of the same recording made with the same options: no
    download, no Mistral, nothing billed. None when there is none (or nothing is kept)."""
    if hours == 0 or job.file_unique_id is None or job.options_key is None:
        return None
    kept = await transcripts.of_recording(db, job.file_unique_id, job.options_key, now=now)
    if kept is None:
        return None
    transcript, _ = retained.decode(kept.body)
    log.info("job=%d chat=%d reuses transcript=%d", job.id, job.chat_id, kept.id)
    return 0, transcript


def to_keep(
    job: Job, transcript: Transcript | None, *, hours: int, now: int
) -> NewTranscript | None:
    """The transcript to keep for its buttons for `hours`; None if there is none or that is 0."""
    if transcript is None or hours == 0:
        return None
    return NewTranscript(
        job_id=job.id,
        user_id=job.payer_id,
        author_id=job.author_id,
        chat_id=job.chat_id,
        body=retained.encode(transcript, job.header),
        created_at=now,
        expires_at=now + hours * 3600,
        file_unique_id=job.file_unique_id,
        options=job.options_key,
    )


Settle = Callable[[NewTranscript | None], Awaitable[tuple[bool, int | None]]]
"""Settles the job keeping the given transcript in the same transaction: whether it settled,
and the kept transcript's id."""


async def settle(settling: Settle, job: Job, keep: NewTranscript | None) -> tuple[bool, int | None]:
    """Settle the job with its transcript kept in the same transaction (a restart after it
    finds the transcript to send again). Should keeping it fail, the transcript itself matters
    more than its buttons: the job is settled without it."""
    try:
        return await settling(keep)
    except Exception:
        if keep is None:
            raise
        log.exception("job=%d transcript not retained", job.id)
        return await settling(None)
