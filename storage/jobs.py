"""Jobs: one row per accepted note, with its quota reservation, claimed by workers in turn.

Acceptance, reservation and settling each happen in one transaction, so concurrent notes of
one user can never spend more than the quota and a job is settled at most once.

A claim that names its `owner` (one per process: `leases.new_owner()`) leases the job for
`lease_seconds`; the owner renews the lease while it works, and a job whose lease ran out (its
replica died or hangs) is claimed again by any replica. Settling, finishing and failing with
`owner` happen only while the lease is still the owner's.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, fields
from typing import Any

from storage import reservations
from storage.db import Database, Tx, now
from storage.job_rows import Acceptance, Accepted, Job, NewJob
from storage.transcripts import KEEP, NewTranscript

CLAIM_RETRY_SECONDS = 0.01
"""How long a claim waits before looking again at a queued row another transaction held."""

LEASE_SECONDS = 60
"""How long a claimed job stays its owner's without a renewal (JOB_LEASE_SECONDS)."""


async def _rearm(tx: Tx, job_id: int, values: dict[str, Any]) -> None:
    """Queue a failed, uncharged job again in its own row, as new."""
    values = {
        **values,
        "id": job_id,
        "billed_seconds": None,
        "error": None,
        "status_message_id": None,
        "attempts": 0,
        **dict.fromkeys(("batch_plan", "batch_id", "batch_seconds")),
    }
    assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
    await tx.send(f"UPDATE jobs SET {assignments} WHERE id = :id", values)


async def _insert(tx: Tx, job: NewJob, values: dict[str, Any]) -> Acceptance:
    """Insert the new job's row; DUPLICATE (its seconds given back) if another replica queued
    the same note since this transaction looked."""
    columns = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    row = await tx.fetchone(
        f"INSERT INTO jobs ({columns}) VALUES ({marks})"
        " ON CONFLICT (chat_id, message_id) DO NOTHING RETURNING id",
        values,
    )
    if row is not None:
        return Acceptance(Accepted.CREATED, job_id=int(row[0]))
    await tx.send(
        reservations.RELEASE,
        {
            "amount": values["reserved_seconds"],
            "billed": 0,
            "user": job.payer_id,
            "period": job.period,
        },
    )
    row = await tx.fetchone(
        "SELECT id FROM jobs WHERE chat_id = ? AND message_id = ?", (job.chat_id, job.message_id)
    )
    assert row is not None
    return Acceptance(Accepted.DUPLICATE, job_id=int(row[0]))


_EXISTING = (
    "SELECT id, status, billed_seconds FROM jobs"
    " WHERE chat_id = :chat AND message_id = :message FOR UPDATE"
)

# The payer's jobs queued, running or waiting for a batch, and what reservations.reserve reads.
_PENDING = (
    "SELECT COUNT(*), "
    + reservations.standing(":user", ":period")
    + " FROM jobs WHERE payer_id = :user AND status IN ('queued', 'running', 'waiting_batch')"
)


async def accept(
    db: Database,
    job: NewJob,
    *,
    reserve: int,
    default_quota: int,
    unlimited: bool,
    max_pending: int | None = None,
) -> Acceptance:
    """Insert the job and reserve its seconds in one transaction; duplicates change nothing,
    nor does a note past the payer's `max_pending` notes queued or running (TOO_MANY)."""
    async with db.transaction() as tx:
        # One user's reservations and /forgetme, one at a time across replicas.
        for user in sorted({job.payer_id, job.author_id or job.payer_id}):
            await tx.lock(user)
        found, counted = await tx.fetch_each(
            (_EXISTING, {"chat": job.chat_id, "message": job.message_id}),
            (_PENDING, {"user": job.payer_id, "period": job.period}),
        )
        existing = found[0] if found else None
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
        row = counted[0]
        if max_pending is not None and int(row[0]) >= max_pending:
            return Acceptance(Accepted.TOO_MANY)
        fitted, left = await reservations.reserve(
            tx,
            job.payer_id,
            job.period,
            reserve,
            (row[1], row[2], row[3]),
            default=default_quota,
            unlimited=unlimited,
        )
        if not fitted:
            return Acceptance(Accepted.OVER_QUOTA, left_seconds=left)
        values = {f.name: getattr(job, f.name) for f in fields(NewJob)}
        values["speakers"] = int(job.speakers)  # an INTEGER column on both databases
        # Queued at once: workers may take it while the handler sends its status message.
        values.update(reserved_seconds=reserve, status="queued", created_at=now(), updated_at=now())
        if existing is not None:
            await _rearm(tx, int(existing[0]), values)
            return Acceptance(Accepted.CREATED, job_id=int(existing[0]))
        return await _insert(tx, job, values)


async def set_status_message(db: Database, job_id: int, message_id: int | None) -> None:
    await db.execute(
        "UPDATE jobs SET status_message_id = ?, updated_at = ? WHERE id = ?",
        (message_id, now(), job_id),
    )


# Queued jobs in the order they are claimed: the chat with the fewest running jobs first, never
# more than `per_chat` running in one chat.
# A job is claimable when queued, or running under a lease that has run out. Running jobs are
# counted per chat once (those of live leases only), not once per queued job: in a burst of
# hundreds this query runs for every claim.
_CLAIMABLE = """
    WITH busy AS (
        SELECT chat_id, COUNT(*) AS n FROM jobs
        WHERE status = 'running' AND (lease_until IS NULL OR lease_until >= :now)
        GROUP BY chat_id
    )
    SELECT q.id
    FROM jobs AS q LEFT JOIN busy AS b ON b.chat_id = q.chat_id
    WHERE (q.status = 'queued' OR (q.status = 'running' AND q.lease_until < :now))
      AND COALESCE(b.n, 0) < :per_chat
    ORDER BY COALESCE(b.n, 0), q.id
    LIMIT 1
"""

# The claim in one statement: the job is picked, locked and leased at once.
_CLAIM = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
    " lease_owner = :owner, lease_until = :until, updated_at = :now"
    " WHERE id = (" + _CLAIMABLE + " FOR UPDATE OF q SKIP LOCKED)"
    " AND (status = 'queued' OR (status = 'running' AND lease_until < :now))"
    " RETURNING *"
)


async def claim_next(
    db: Database, *, per_chat: int, owner: str | None = None, lease_seconds: int = LEASE_SECONDS
) -> Job | None:
    """Take the oldest claimable job of the chat with the fewest running jobs, and never more
    than `per_chat` running in one chat: a busy group cannot starve everyone else. None only
    when no job is left to claim. With `owner`, the job is leased to it for `lease_seconds`.

    On PostgreSQL, replicas skip the rows another one is claiming (SKIP LOCKED); each counts
    the running jobs it can see, so two claiming at once may each start one more in a chat.
    """
    while True:
        at = now()
        values = {"now": at, "per_chat": per_chat}
        lease = {"owner": owner, "until": None if owner is None else at + lease_seconds}
        claimed = await db.execute_fetchone(_CLAIM, {**values, **lease})
        if claimed is not None:
            return Job.from_row(claimed)
        # A queued row is also skipped while another transaction holds it for a moment
        # (recording its status message, say): None would leave it to the next wake-up.
        if await db.fetchone(_CLAIMABLE, values) is None:
            return None
        await asyncio.sleep(CLAIM_RETRY_SECONDS)


async def requeue_unfinished(db: Database, *, leased_too: bool = False) -> int:
    """At start: jobs a stop or crash interrupted go back to the queue. Jobs leased to a
    replica that is still renewing them are left alone, unless `leased_too` (the only process
    on a SQLite file: every lease is from a previous run)."""
    live = "" if leased_too else " AND (lease_until IS NULL OR lease_until < :now)"
    return await db.execute(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL,"
        " updated_at = :now WHERE status = 'new'"
        " OR (status IN ('running', 'waiting_batch')" + live + ")",
        {"now": now()},
    )


async def requeue(db: Database, job_id: int, *, owner: str | None = None) -> None:
    """Give a running job back (graceful stop): the next start picks it up. A stop is not the
    job's fault, so this attempt does not count towards the crash limit. With `owner`, only
    while the lease is still its own."""
    await db.execute(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL,"
        " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = :now"
        " WHERE id = :id AND status IN ('running', 'waiting_batch')" + _owned(owner),
        {"now": now(), "id": job_id, "owner": owner},
    )


def _owned(owner: str | None) -> str:
    """The condition that the caller still holds the job's lease (none without an owner)."""
    return "" if owner is None else " AND lease_owner = :owner"


async def reserve_more(
    db: Database, job_id: int, seconds: int, *, default_quota: int, unlimited: bool
) -> tuple[bool, int | None]:
    """Grow the job's reservation to `seconds` (the probed duration) if the quota allows.

    Returns (fitted, seconds left to the payer besides this job). A job already reserving
    enough is left alone.
    """
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT payer_id, period, reserved_seconds, "
            + reservations.standing("jobs.payer_id", "jobs.period")
            + " FROM jobs WHERE id = ? FOR UPDATE",
            (job_id,),
        )
        if row is None:
            return False, None
        payer, period, reserved = int(row[0]), str(row[1]), int(row[2])
        extra = seconds - reserved
        if extra <= 0:
            return True, None
        fitted, left = await reservations.reserve(
            tx,
            payer,
            period,
            extra,
            (row[3], row[4], row[5]),
            default=default_quota,
            unlimited=unlimited,
        )
        if fitted:
            await tx.send(
                "UPDATE jobs SET reserved_seconds = ?, updated_at = ? WHERE id = ?",
                (seconds, now(), job_id),
            )
        # What the job already holds is the user's to spend on this very note.
        return fitted, None if left is None else left + reserved


async def settle(
    db: Database,
    job_id: int,
    billed_seconds: int,
    *,
    owner: str | None = None,
    lease_seconds: int = LEASE_SECONDS,
) -> bool:
    """Turn the job's reservation into billed usage, exactly once per job.

    Settling comes before the reply is sent, so a user who sees a transcript has been charged
    for it; a restart that sends the reply again finds the job settled and charges nothing.
    Returns False when the job was already settled or has ended, or (with `owner`) when its
    lease is no longer the owner's. With `owner`, settling renews the lease for
    `lease_seconds`, as leases.renew does.
    """
    settled, _ = await settle_keeping(
        db, job_id, billed_seconds, None, owner=owner, lease_seconds=lease_seconds
    )
    return settled


async def settle_keeping(
    db: Database,
    job_id: int,
    billed_seconds: int,
    transcript: NewTranscript | None,
    *,
    owner: str | None = None,
    lease_seconds: int = LEASE_SECONDS,
) -> tuple[bool, int | None]:
    """settle(), with the job's transcript kept (transcripts.KEEP) in the same transaction,
    whether or not the job was settled before: a restart after it finds the transcript to send
    again. Whether it settled, and the kept transcript's id (None without one)."""
    lease = "" if owner is None else ", lease_until = :until"
    # The UPDATE's condition is checked on the row as any concurrent settle left it.
    settling = (
        "UPDATE jobs SET billed_seconds = :billed, updated_at = :now"
        + lease
        + " WHERE id = :id AND billed_seconds IS NULL AND status NOT IN ('done', 'failed')"
        + _owned(owner)
        + " RETURNING payer_id, period, reserved_seconds, COALESCE(batch_seconds, 0)",
        {
            "billed": billed_seconds,
            "now": now(),
            "until": now() + lease_seconds,
            "id": job_id,
            "owner": owner,
        },
    )
    keeping = [] if transcript is None else [(KEEP, asdict(transcript))]
    async with db.transaction() as tx:
        # On PostgreSQL both go in one round trip.
        *kept, rows = await tx.fetch_each(*keeping, settling)
        kept_id = int(kept[0][0][0]) if kept else None
        if not rows:
            return False, kept_id
        row = rows[0]
        values = {"amount": row[2], "billed": billed_seconds, "user": row[0], "period": row[1]}
        await tx.send(reservations.RELEASE, values)
        if row[3]:
            await tx.send(reservations.BATCH_SHARE, {**values, "batch": row[3]})
        return True, kept_id


async def mark_done(db: Database, job_id: int, *, owner: str | None = None) -> bool:
    """The reply is out: the job is finished. False (with `owner`) when its lease is no longer
    the owner's."""
    changed = await db.execute(
        "UPDATE jobs SET status = 'done', error = NULL, lease_owner = NULL, lease_until = NULL,"
        " updated_at = :now WHERE id = :id" + _owned(owner),
        {"now": now(), "id": job_id, "owner": owner},
    )
    return changed == 1


async def fail(db: Database, job_id: int, error: str, *, owner: str | None = None) -> bool:
    """Mark the job failed and release its reservation, exactly once. A job already settled
    keeps its charge (the transcript was made) and is only marked. Returns True when a
    reservation was released; False as well, changing nothing, when (with `owner`) its lease
    is no longer the owner's."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "UPDATE jobs SET status = 'failed', error = :error, lease_owner = NULL,"
            " lease_until = NULL, updated_at = :now"
            " WHERE id = :id AND status NOT IN ('done', 'failed')"
            + _owned(owner)
            + " RETURNING payer_id, period, reserved_seconds, billed_seconds",
            {"error": error, "now": now(), "id": job_id, "owner": owner},
        )
        if row is None or row[3] is not None:
            return False
        await tx.send(
            reservations.RELEASE, {"amount": row[2], "billed": 0, "user": row[0], "period": row[1]}
        )
        return True


async def get(db: Database, job_id: int) -> Job | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else Job.from_row(row)


async def count_by_status(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, COUNT(*) FROM jobs GROUP BY status")
    return {str(r[0]): int(r[1]) for r in rows}
