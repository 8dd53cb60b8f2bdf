"""Jobs: one row per accepted note, with its quota reservation, claimed by workers in turn.

Acceptance, reservation and settling each happen in one transaction, so concurrent notes of
one user can never spend more than the quota and a job is settled at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from storage import carried
from storage.db import Database, Row, now


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

    @classmethod
    def from_row(cls, row: Row) -> Job:
        keys = set(row.keys())
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in keys})


class Accepted(Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    OVER_QUOTA = "over_quota"


@dataclass(frozen=True, slots=True)
class Acceptance:
    outcome: Accepted
    job_id: int | None = None
    left_seconds: int | None = None


_REMAINING = """
    SELECT CASE
        WHEN :limit IS NULL THEN NULL
        ELSE :limit - COALESCE((SELECT used_seconds + reserved_seconds FROM usage
                                WHERE user_id = :user AND period = :period), 0)
    END
"""


async def _effective_limit(conn: Any, user_id: int, default: int, unlimited: bool) -> int | None:
    """The user's quota per period inside the current transaction; None means unlimited."""
    if unlimited:
        return None
    async with conn.execute("SELECT quota_seconds FROM users WHERE user_id = ?", (user_id,)) as c:
        row = await c.fetchone()
    quota = default if row is None or row[0] is None else int(row[0])
    return None if quota < 0 else quota


async def _reserve(
    conn: Any, user_id: int, period: str, amount: int, limit: int | None
) -> tuple[bool, int | None]:
    """Add `amount` to the reservation if it fits; return (fitted, seconds left before)."""
    await carried.fold(conn, user_id, period)
    await conn.execute(
        "INSERT INTO usage (user_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (user_id, period),
    )
    async with conn.execute(
        _REMAINING, {"limit": limit, "user": user_id, "period": period}
    ) as cursor:
        row = await cursor.fetchone()
    left = None if row[0] is None else max(0, int(row[0]))
    if left is not None and amount > left:
        return False, left
    await conn.execute(
        "UPDATE usage SET reserved_seconds = reserved_seconds + ? WHERE user_id = ? AND period = ?",
        (amount, user_id, period),
    )
    return True, left


async def accept(
    db: Database, job: NewJob, *, reserve: int, default_quota: int, unlimited: bool
) -> Acceptance:
    """Insert the job and reserve its seconds in one transaction; duplicates change nothing."""
    async with db.transaction() as conn:
        async with conn.execute(
            "SELECT id, status, billed_seconds FROM jobs WHERE chat_id = ? AND message_id = ?",
            (job.chat_id, job.message_id),
        ) as cursor:
            existing = await cursor.fetchone()
        # An explicit /transcribe of a note whose job failed (auto mode met an outage, say)
        # tries again in the same row, unless that job was charged (it failed after settling):
        # anything else arriving twice changes nothing.
        retry = (
            existing is not None
            and existing[1] == "failed"
            and existing[2] is None
            and job.trigger == "command"
        )
        if existing is not None and not retry:
            return Acceptance(Accepted.DUPLICATE, job_id=int(existing[0]))
        limit = await _effective_limit(conn, job.payer_id, default_quota, unlimited)
        fitted, left = await _reserve(conn, job.payer_id, job.period, reserve, limit)
        if not fitted:
            return Acceptance(Accepted.OVER_QUOTA, left_seconds=left)
        values = {f.name: getattr(job, f.name) for f in fields(NewJob)}
        # Queued at once: workers may take it while the handler sends its status message.
        values.update(reserved_seconds=reserve, status="queued", created_at=now(), updated_at=now())
        if existing is not None:
            values.update(
                id=int(existing[0]),
                billed_seconds=None,
                error=None,
                status_message_id=None,
                attempts=0,
            )
            assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
            await conn.execute(f"UPDATE jobs SET {assignments} WHERE id = :id", values)
            return Acceptance(Accepted.CREATED, job_id=int(existing[0]))
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        async with conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", values) as cur:
            job_id = cur.lastrowid
        assert job_id is not None
        return Acceptance(Accepted.CREATED, job_id=job_id)


async def set_status_message(db: Database, job_id: int, message_id: int | None) -> None:
    await db.execute(
        "UPDATE jobs SET status_message_id = ?, updated_at = ? WHERE id = ?",
        (message_id, now(), job_id),
    )


async def claim_next(db: Database, *, per_chat: int) -> Job | None:
    """Take the oldest queued job of the chat with the fewest running jobs, and never more
    than `per_chat` running in one chat: a busy group cannot starve everyone else."""
    async with db.transaction() as conn:
        async with conn.execute(
            # Running jobs are counted per chat once, not once per queued job: in a burst of
            # hundreds this query runs for every claim, with the database's one lock held.
            """
            WITH busy AS (
                SELECT chat_id, COUNT(*) AS n FROM jobs WHERE status = 'running' GROUP BY chat_id
            )
            SELECT q.id, COALESCE(b.n, 0) AS running
            FROM jobs AS q LEFT JOIN busy AS b ON b.chat_id = q.chat_id
            WHERE q.status = 'queued' AND COALESCE(b.n, 0) < ?
            ORDER BY running, q.id
            LIMIT 1
            """,
            (per_chat,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        async with conn.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ? RETURNING *",
            (now(), row[0]),
        ) as cursor:
            claimed = await cursor.fetchone()
        return None if claimed is None else Job.from_row(claimed)


async def requeue_unfinished(db: Database) -> int:
    """At start: jobs a stop or crash interrupted go back to the queue."""
    return await db.execute(
        "UPDATE jobs SET status = 'queued', updated_at = ? WHERE status IN ('new', 'running')",
        (now(),),
    )


async def requeue(db: Database, job_id: int) -> None:
    """Give a running job back (graceful stop): the next start picks it up. A stop is not the
    job's fault, so this attempt does not count towards the crash limit."""
    await db.execute(
        "UPDATE jobs SET status = 'queued', attempts = MAX(0, attempts - 1), updated_at = ?"
        " WHERE id = ? AND status = 'running'",
        (now(), job_id),
    )


async def reserve_more(
    db: Database, job_id: int, seconds: int, *, default_quota: int, unlimited: bool
) -> tuple[bool, int | None]:
    """Grow the job's reservation to `seconds` (the probed duration) if the quota allows.

    Returns (fitted, seconds left to the payer besides this job). A job already reserving
    enough is left alone.
    """
    async with db.transaction() as conn:
        async with conn.execute(
            "SELECT payer_id, period, reserved_seconds FROM jobs WHERE id = ?", (job_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return False, None
        payer, period, reserved = int(row[0]), str(row[1]), int(row[2])
        extra = seconds - reserved
        if extra <= 0:
            return True, None
        limit = await _effective_limit(conn, payer, default_quota, unlimited)
        fitted, left = await _reserve(conn, payer, period, extra, limit)
        if fitted:
            await conn.execute(
                "UPDATE jobs SET reserved_seconds = ?, updated_at = ? WHERE id = ?",
                (seconds, now(), job_id),
            )
        # What the job already holds is the user's to spend on this very note.
        return fitted, None if left is None else left + reserved


async def settle(db: Database, job_id: int, billed_seconds: int) -> bool:
    """Turn the job's reservation into billed usage, exactly once per job.

    Settling comes before the reply is sent, so a user who sees a transcript has been charged
    for it; a restart that sends the reply again finds the job settled and charges nothing.
    Returns False when the job was already settled or has ended.
    """
    async with db.transaction() as conn:
        async with conn.execute(
            "UPDATE jobs SET billed_seconds = ?, updated_at = ?"
            " WHERE id = ? AND billed_seconds IS NULL AND status NOT IN ('done', 'failed')"
            " RETURNING payer_id, period, reserved_seconds",
            (billed_seconds, now(), job_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return False
        await conn.execute(
            "UPDATE usage SET used_seconds = used_seconds + ?,"
            " reserved_seconds = MAX(0, reserved_seconds - ?)"
            " WHERE user_id = ? AND period = ?",
            (billed_seconds, row[2], row[0], row[1]),
        )
        return True


async def mark_done(db: Database, job_id: int) -> None:
    """The reply is out: the job is finished."""
    await db.execute(
        "UPDATE jobs SET status = 'done', error = NULL, updated_at = ? WHERE id = ?",
        (now(), job_id),
    )


async def fail(db: Database, job_id: int, error: str) -> bool:
    """Mark the job failed and release its reservation, exactly once. A job already settled
    keeps its charge (the transcript was made) and is only marked. Returns True when a
    reservation was released."""
    async with db.transaction() as conn:
        async with conn.execute(
            "UPDATE jobs SET status = 'failed', error = ?, updated_at = ?"
            " WHERE id = ? AND status NOT IN ('done', 'failed')"
            " RETURNING payer_id, period, reserved_seconds, billed_seconds",
            (error, now(), job_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[3] is not None:
            return False
        await conn.execute(
            "UPDATE usage SET reserved_seconds = MAX(0, reserved_seconds - ?)"
            " WHERE user_id = ? AND period = ?",
            (row[2], row[0], row[1]),
        )
        return True


async def get(db: Database, job_id: int) -> Job | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else Job.from_row(row)


async def count_by_status(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, COUNT(*) FROM jobs GROUP BY status")
    return {str(r[0]): int(r[1]) for r in rows}


async def record_upload(db: Database, file_id: str, job_id: int | None) -> None:
    """Remember an uploaded Mistral file before anything else can fail."""
    await db.execute(
        "INSERT OR IGNORE INTO mistral_files (file_id, job_id, created_at) VALUES (?, ?, ?)",
        (file_id, job_id, now()),
    )


async def forget_upload(db: Database, file_id: str) -> None:
    await db.execute("DELETE FROM mistral_files WHERE file_id = ?", (file_id,))


async def leftover_uploads(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT file_id FROM mistral_files ORDER BY created_at")
    return [str(r[0]) for r in rows]


async def pending_of(db: Database, payer_id: int) -> int:
    """How many of the payer's jobs are queued or running."""
    row = await db.fetchone(
        "SELECT COUNT(*) FROM jobs WHERE payer_id = ? AND status IN ('queued', 'running')",
        (payer_id,),
    )
    return int(row[0]) if row is not None else 0
