"""Users' quotas, blocks and usage per period."""

from __future__ import annotations

from dataclasses import dataclass

from storage import carried
from storage.db import Database, Read, now

UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class UserUsage:
    """One user's standing in one period."""

    user_id: int
    used_seconds: int
    reserved_seconds: int
    quota_seconds: int | None
    """The user's own quota (-1 unlimited), or None when the default applies."""
    blocked: bool
    batch_seconds: int = 0
    """Of used_seconds, those transcribed through the batch API."""


@dataclass(frozen=True, slots=True)
class Stats:
    users: int
    seconds: int
    jobs_done: int
    jobs_failed: int
    top: list[tuple[int, int]]
    batch_seconds: int = 0


async def get_usage(db: Database, user_id: int, period: str) -> UserUsage:
    """The user's standing, with any seconds carried over from a /forgetme folded back in."""
    async with db.transaction() as tx:
        await carried.fold(tx, user_id, period)
        row = await tx.fetchone(
            """
            SELECT COALESCE(u.used_seconds, 0), COALESCE(u.reserved_seconds, 0),
                   (SELECT quota_seconds FROM users WHERE user_id = :user),
                   COALESCE((SELECT blocked FROM users WHERE user_id = :user), 0),
                   COALESCE(u.batch_seconds, 0)
            FROM (SELECT 1) AS one
            LEFT JOIN usage AS u ON u.user_id = :user AND u.period = :period
            """,
            {"user": user_id, "period": period},
        )
    assert row is not None
    return UserUsage(
        user_id=user_id,
        used_seconds=int(row[0]),
        reserved_seconds=int(row[1]),
        quota_seconds=None if row[2] is None else int(row[2]),
        blocked=bool(row[3]),
        batch_seconds=int(row[4]),
    )


async def set_quota(db: Database, user_id: int, seconds: int, *, by: int) -> None:
    """Give a user their own quota per period (UNLIMITED for no limit)."""
    await db.execute(
        """
        INSERT INTO users (user_id, quota_seconds, quota_set_by, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET quota_seconds = excluded.quota_seconds,
            quota_set_by = excluded.quota_set_by, updated_at = excluded.updated_at
        """,
        (user_id, seconds, by, now()),
    )


async def set_blocked(db: Database, user_id: int, blocked: bool) -> None:
    await db.execute(
        """
        INSERT INTO users (user_id, blocked, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET blocked = excluded.blocked,
            updated_at = excluded.updated_at
        """,
        (user_id, int(blocked), now()),
    )


def blocked(user_id: int) -> Read[bool]:
    """Whether the user is blocked."""
    return Read(
        "SELECT blocked FROM users WHERE user_id = ?",
        (user_id,),
        lambda rows: bool(rows and rows[0][0]),
    )


async def reset_usage(db: Database, user_id: int, period: str) -> int:
    """Zero the seconds used this period; running jobs keep their reservations. Returns the
    seconds that were cleared."""
    async with db.transaction() as tx:
        # One user's reset, reservations and /forgetme, one at a time across replicas.
        await tx.lock(user_id)
        await carried.fold(tx, user_id, period)
        row = await tx.fetchone(
            "SELECT used_seconds FROM usage WHERE user_id = ? AND period = ? FOR UPDATE",
            (user_id, period),
        )
        await tx.execute(
            "UPDATE usage SET used_seconds = 0, batch_seconds = 0 WHERE user_id = ? AND period = ?",
            (user_id, period),
        )
        return 0 if row is None else int(row[0])


async def stats(db: Database, period: str, top: int = 5) -> Stats:
    users = await db.fetchone(
        "SELECT COUNT(*) FROM (SELECT user_id FROM usage UNION SELECT user_id FROM users) AS known"
    )
    # Seconds of users who forgot themselves were transcribed too.
    seconds = await db.fetchone(
        "SELECT (SELECT COALESCE(SUM(used_seconds), 0) FROM usage WHERE period = :period)"
        " + (SELECT COALESCE(SUM(seconds), 0) FROM carried_usage WHERE period = :period)",
        {"period": period},
    )
    jobs = await db.fetchone(
        "SELECT COUNT(*) FILTER (WHERE status = 'done'), COUNT(*) FILTER (WHERE status = 'failed')"
        " FROM jobs WHERE period = ?",
        (period,),
    )
    batch = await db.fetchone(
        "SELECT COALESCE(SUM(batch_seconds), 0) FROM usage WHERE period = ?", (period,)
    )
    leaders = await db.fetchall(
        "SELECT user_id, used_seconds FROM usage WHERE period = ? AND used_seconds > 0"
        " ORDER BY used_seconds DESC, user_id LIMIT ?",
        (period, top),
    )
    assert users is not None and seconds is not None and jobs is not None and batch is not None
    return Stats(
        users=int(users[0]),
        seconds=int(seconds[0]),
        jobs_done=int(jobs[0]),
        jobs_failed=int(jobs[1]),
        top=[(int(r[0]), int(r[1])) for r in leaders],
        batch_seconds=int(batch[0]),
    )
