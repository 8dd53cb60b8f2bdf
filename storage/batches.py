"""A job's batch at Mistral: its plan (the uploaded chunks), its id, its share of the bill.

A job waiting for its batch is `waiting_batch`: it holds no worker and does not count as
running in its chat; a restart queues it again, and it goes on polling the recorded batch.
"""

from __future__ import annotations

from storage import jobs
from storage.db import Database, now


async def set_plan(db: Database, job_id: int, plan: str | None) -> None:
    """Record (or, with None, drop) the chunks a batch of the job is to read: from now on
    housekeeping leaves their uploads alone while the job is unfinished."""
    await db.execute(
        "UPDATE jobs SET batch_plan = ?, batch_id = NULL, updated_at = ? WHERE id = ?",
        (plan, now(), job_id),
    )


async def set_batch_id(db: Database, job_id: int, batch_id: str) -> None:
    """Record the batch job Mistral created for the job."""
    await db.execute(
        "UPDATE jobs SET batch_id = ?, updated_at = ? WHERE id = ?", (batch_id, now(), job_id)
    )


async def wait(db: Database, job_id: int) -> bool:
    """The running job now only waits for its batch; False when it is no longer running."""
    changed = await db.execute(
        "UPDATE jobs SET status = 'waiting_batch', updated_at = ?"
        " WHERE id = ? AND status = 'running'",
        (now(), job_id),
    )
    return changed == 1


async def resume(db: Database, job_id: int) -> bool:
    """The batch has ended: the job runs again; False when it is no longer waiting."""
    changed = await db.execute(
        "UPDATE jobs SET status = 'running', updated_at = ?"
        " WHERE id = ? AND status = 'waiting_batch'",
        (now(), job_id),
    )
    return changed == 1


async def set_seconds(db: Database, job_id: int, seconds: int) -> None:
    """Of the seconds the job is about to be billed, those the batch transcribed."""
    await db.execute(
        "UPDATE jobs SET batch_seconds = ?, updated_at = ? WHERE id = ?", (seconds, now(), job_id)
    )


async def abandon(db: Database, user_id: int, error: str) -> list[str]:
    """Fail (uncharged) the user's jobs that wait for their batch; the ids of those batches."""
    rows = await db.fetchall(
        "SELECT id, batch_id FROM jobs WHERE (payer_id = :user OR author_id = :user)"
        " AND status = 'waiting_batch' AND batch_id IS NOT NULL",
        {"user": user_id},
    )
    abandoned = []
    for row in rows:
        await jobs.fail(db, int(row[0]), error)
        abandoned.append(str(row[1]))
    return abandoned
