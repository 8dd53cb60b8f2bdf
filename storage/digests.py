"""Summaries and translations given per user and UTC day: held, then counted or given back.

Rows are keyed by the user's pseudonym (storage/carried.py), not the id: /forgetme leaves no
id behind and still cannot hand out a fresh day. Rows of past days are purged.
"""

from __future__ import annotations

from storage.carried import pseudonym
from storage.db import Database


async def hold(db: Database, user_id: int, day: str, limit: int) -> bool:
    """Hold one of the user's `limit` presses of `day`; False when all are used or held.

    One statement: concurrent presses (on any replica) never hold more than the limit."""
    if limit <= 0:
        return False
    async with db.transaction() as tx:
        row = await tx.fetchone(
            """
            INSERT INTO digest_counts (pseudonym, day, used, reserved) VALUES (?, ?, 0, 1)
            ON CONFLICT (pseudonym, day) DO UPDATE SET reserved = digest_counts.reserved + 1
            WHERE digest_counts.used + digest_counts.reserved < ?
            RETURNING reserved
            """,
            (await pseudonym(tx, user_id), day, limit),
        )
    return row is not None


async def count(db: Database, user_id: int, day: str) -> None:
    """A held press was answered: it counts."""
    await _move(db, user_id, day, used=1)


async def give_back(db: Database, user_id: int, day: str) -> None:
    """A held press failed: it does not count."""
    await _move(db, user_id, day, used=0)


async def _move(db: Database, user_id: int, day: str, *, used: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE digest_counts SET used = used + ?, reserved = reserved - 1"
            " WHERE pseudonym = ? AND day = ? AND reserved > 0",
            (used, await pseudonym(tx, user_id), day),
        )


async def used(db: Database, user_id: int, day: str) -> tuple[int, int]:
    """(used, held) presses of the user on `day`."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT used, reserved FROM digest_counts WHERE pseudonym = ? AND day = ?",
            (await pseudonym(tx, user_id), day),
        )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


async def purge(db: Database, day: str) -> int:
    """Delete the counts of every day before `day`; return how many."""
    return await db.execute("DELETE FROM digest_counts WHERE day < ?", (day,))
