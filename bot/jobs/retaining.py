"""Retained transcripts of a job: kept for their buttons, sent again after a restart, reused for
another note of the same recording."""

from __future__ import annotations

import logging

from bot.domain import retained
from bot.domain.transcript import Transcript
from storage import transcripts
from storage.db import Database
from storage.job_rows import Job

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


async def retain(
    db: Database, job: Job, transcript: Transcript | None, *, hours: int, now: int
) -> int | None:
    """Keep the transcript for its buttons for `hours`, unless that is 0; its id, if kept."""
    if transcript is None or hours == 0:
        return None
    try:
        return await transcripts.keep(
            db,
            job_id=job.id,
            user_id=job.payer_id,
            author_id=job.author_id,
            chat_id=job.chat_id,
            body=retained.encode(transcript, job.header),
            now=now,
            expires_at=now + hours * 3600,
            file_unique_id=job.file_unique_id,
            options=job.options_key,
        )
    except Exception:
        # The transcript itself matters more than its buttons: deliver it without them.
        log.exception("job=%d transcript not retained", job.id)
        return None
