"""A forgotten user's seconds of the current period, kept under a pseudonym until it ends.

/forgetme must not hand out a fresh quota, so the period's count is carried over under a
pseudonym: HMAC-SHA256 of the user id with a random key kept in the database (a plain hash of
a Telegram id is reversed by hashing every possible id). When the user is seen again in the
same period, the count is folded back into their usage; rows of past periods are purged.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from storage.db import Database, Tx

_KEY = "pseudonym_key"


async def pseudonym(tx: Tx, user_id: int) -> bytes:
    """The user's pseudonym; the key is made on first use and never changes."""
    row = await tx.fetchone("SELECT value FROM meta WHERE name = ?", (_KEY,))
    if row is None:
        # Of two replicas making the key at once, the first to insert wins; both read its key.
        await tx.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (_KEY, secrets.token_bytes(32)),
        )
        row = await tx.fetchone("SELECT value FROM meta WHERE name = ?", (_KEY,))
        assert row is not None
    return hmac.digest(bytes(row[0]), str(user_id).encode(), "sha256")


async def _take(tx: Tx, user_id: int, period: str) -> int:
    """Delete the user's carried seconds of the period and return them (0 if none)."""
    if await tx.fetchone("SELECT 1 FROM carried_usage WHERE period = ? LIMIT 1", (period,)) is None:
        return 0  # nobody forgot this period: no need to hash
    row = await tx.fetchone(
        "DELETE FROM carried_usage WHERE pseudonym = ? AND period = ? RETURNING seconds",
        (await pseudonym(tx, user_id), period),
    )
    return 0 if row is None else int(row[0])


async def carry(conn: Any, user_id: int, period: str) -> int:
    """Inside /forgetme's transaction, before the usage rows go: keep the period's used and
    reserved seconds (and any carried before) under the pseudonym. Returns the seconds kept."""
    row = await conn.fetchone(
        "SELECT used_seconds + reserved_seconds FROM usage WHERE user_id = ? AND period = ?",
        (user_id, period),
    )
    seconds = (0 if row is None else int(row[0])) + await _take(conn, user_id, period)
    if seconds > 0:
        await conn.execute(
            "INSERT INTO carried_usage (pseudonym, period, seconds) VALUES (?, ?, ?)",
            (await pseudonym(conn, user_id), period, seconds),
        )
    return seconds


async def fold(conn: Any, user_id: int, period: str) -> None:
    """Inside a transaction that reads or creates the user's usage row: give the row back the
    seconds carried over when they forgot themselves this period."""
    seconds = await _take(conn, user_id, period)
    if seconds > 0:
        await conn.execute(
            "INSERT INTO usage (user_id, period, used_seconds) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, period) DO UPDATE"
            " SET used_seconds = usage.used_seconds + excluded.used_seconds",
            (user_id, period, seconds),
        )


async def purge(db: Database, period: str) -> int:
    """Delete what was carried over in any period but the current one; return how many."""
    return await db.execute("DELETE FROM carried_usage WHERE period != ?", (period,))
