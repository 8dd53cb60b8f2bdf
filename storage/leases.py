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
