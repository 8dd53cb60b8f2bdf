"""Job leases: which replica runs a job, renewed while it does; the claim is in storage/jobs.py."""

from __future__ import annotations

import os
import secrets
import socket

from storage.db import Database, now
from storage.jobs import LEASE_SECONDS


def new_owner() -> str:
    """A lease owner naming this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def renew(
    db: Database, job_id: int, *, owner: str, lease_seconds: int = LEASE_SECONDS
) -> bool:
    """Extend the owner's lease on a running job; False when the lease is no longer its own."""
    changed = await db.execute(
        "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
        (now() + lease_seconds, job_id, owner),
    )
    return changed == 1


async def renew_all(db: Database, *, owner: str, lease_seconds: int = LEASE_SECONDS) -> int:
    """Extend the leases of every job the owner is running (its heartbeat); return how many."""
    return await db.execute(
        "UPDATE jobs SET lease_until = ?"
        " WHERE status IN ('running', 'waiting_batch') AND lease_owner = ?",
        (now() + lease_seconds, owner),
    )


REPLICA_SECONDS = 30
"""A replica that has not said it is alive for this long no longer counts."""


async def alive(db: Database, owner: str) -> int:
    """Record that `owner`'s replica is alive; how many replicas are (it included)."""
    at = now()
    await db.execute(
        "INSERT INTO replicas (owner, seen_at) VALUES (?, ?)"
        " ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at",
        (owner, at),
    )
    await db.execute("DELETE FROM replicas WHERE seen_at < ?", (at - 10 * REPLICA_SECONDS,))
    row = await db.fetchone(
        "SELECT COUNT(*) FROM replicas WHERE seen_at >= ?", (at - REPLICA_SECONDS,)
    )
    return max(1, int(row[0])) if row is not None else 1


async def gone(db: Database, owner: str) -> None:
    """The replica stops: the others take its share at their next heartbeat."""
    await db.execute("DELETE FROM replicas WHERE owner = ?", (owner,))
