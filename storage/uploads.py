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
    """Recorded uploads, but not those an unfinished job's batch still reads."""
    rows = await db.fetchall(
        "SELECT file_id FROM mistral_files WHERE job_id IS NULL OR job_id NOT IN"
        " (SELECT id FROM jobs WHERE batch_plan IS NOT NULL AND status NOT IN ('done', 'failed'))"
        " ORDER BY created_at"
    )
    return [str(r[0]) for r in rows]
