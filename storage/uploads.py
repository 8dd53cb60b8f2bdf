"""Mistral uploads: recorded before anything else can fail, so a restart deletes leftovers."""

from __future__ import annotations

from storage.db import Database, now


async def record_upload(db: Database, file_id: str, job_id: int | None) -> None:
    """Remember an uploaded Mistral file before anything else can fail."""
    await db.execute(
        "INSERT INTO mistral_files (file_id, job_id, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (file_id, job_id, now()),
    )


async def forget_upload(db: Database, file_id: str) -> None:
    await db.execute("DELETE FROM mistral_files WHERE file_id = ?", (file_id,))


async def leftover_uploads(db: Database) -> list[str]:
    """Uploads no live job holds: not those an unfinished job's batch still reads, nor those
    of jobs running under another replica's live lease (that replica's to delete)."""
    rows = await db.fetchall(
        "SELECT file_id FROM mistral_files AS f WHERE NOT EXISTS ("
        " SELECT 1 FROM jobs AS j WHERE j.id = f.job_id AND ("
        " (j.batch_plan IS NOT NULL AND j.status NOT IN ('done', 'failed'))"
        " OR (j.status = 'running' AND j.lease_until >= ?))) ORDER BY created_at",
        (now(),),
    )
    return [str(r[0]) for r in rows]


async def of_job(db: Database, job_id: int) -> list[str]:
    """The uploads recorded for a job: at claim, what a previous holder left behind."""
    rows = await db.fetchall(
        "SELECT file_id FROM mistral_files WHERE job_id = ? ORDER BY created_at", (job_id,)
    )
    return [str(r[0]) for r in rows]
