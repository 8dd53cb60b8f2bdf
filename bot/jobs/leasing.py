"""What keeps a job's bookkeeping true across replicas and a busy database: its lease, the
uploads of an earlier holder, and writes retried until the database takes them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.transcription.mistral import MistralClient
from storage import leases, uploads
from storage.db import TRANSIENT, Database
from storage.job_rows import Job

log = logging.getLogger(__name__)

T = TypeVar("T")

STORE_ATTEMPTS = 8
"""Tries of a job's settling, marking done or failed: 0.2 s doubling to 10 s, about a minute."""


async def stored(what: str, job_id: int, write: Callable[[], Awaitable[T]], *, backoff: float) -> T:
    """A write that must not be lost to a database that is busy or restarting: retried
    with backoff (first wait `backoff`, doubling, at most 10 s) STORE_ATTEMPTS times."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(STORE_ATTEMPTS),
        wait=wait_exponential(multiplier=backoff, max=10.0),
        retry=retry_if_exception_type(TRANSIENT),
        before_sleep=lambda state: log.warning(
            "job=%d %s failed (attempt %d): retrying", job_id, what, state.attempt_number
        ),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await write()
    raise AssertionError("unreachable")  # pragma: no cover


async def still_ours(db: Database, job: Job, owner: str | None, lease_seconds: int) -> bool:
    """Renew the job's lease before anything is sent; False (and a log line) when another
    replica has taken the job over: this one then stops without sending anything more."""
    if owner is None:
        return True
    if await leases.renew(db, job.id, owner=owner, lease_seconds=lease_seconds):
        return True
    log.warning("job=%d chat=%d lease lost: stopping, another replica has it", job.id, job.chat_id)
    return False


async def discard_previous_uploads(
    db: Database, mistral: Callable[[], MistralClient], job: Job
) -> None:
    """Delete at once what an earlier holder of the job uploaded to Mistral (it died or lost
    the lease); what Mistral does not delete now, housekeeping tries again later. A job with a
    batch plan keeps them: its batch job at Mistral reads them."""
    if job.batch_plan is not None:
        return
    for file_id in await uploads.of_job(db, job.id):
        try:
            await mistral().delete(file_id, attempts=1)
        except Exception:
            log.warning("job=%d upload file=%s of its previous holder not deleted", job.id, file_id)
            continue
        await uploads.forget_upload(db, file_id)
        log.info("job=%d deleted upload file=%s of its previous holder", job.id, file_id)
