"""Reservations on a user's usage row, inside a caller's transaction: what fits, what is held,
what is given back."""

from __future__ import annotations

from storage import carried
from storage.db import Tx


async def effective_limit(tx: Tx, user_id: int, default: int, unlimited: bool) -> int | None:
    """The user's quota per period inside the current transaction; None means unlimited."""
    if unlimited:
        return None
    row = await tx.fetchone("SELECT quota_seconds FROM users WHERE user_id = ?", (user_id,))
    quota = default if row is None or row[0] is None else int(row[0])
    return None if quota < 0 else quota


async def reserve(
    tx: Tx, user_id: int, period: str, amount: int, limit: int | None
) -> tuple[bool, int | None]:
    """Add `amount` to the reservation if it fits; return (fitted, seconds left before).

    The fit is checked by the UPDATE itself: PostgreSQL re-checks it on the row as the last
    concurrent reservation left it, so concurrent notes of one user never overspend.
    """
    await carried.fold(tx, user_id, period)
    await tx.send(
        "INSERT INTO usage (user_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (user_id, period),
    )
    fits = " AND used_seconds + reserved_seconds + :amount <= :limit"
    row = await tx.fetchone(
        "UPDATE usage SET reserved_seconds = reserved_seconds + :amount"
        " WHERE user_id = :user AND period = :period"
        + (fits if limit is not None and amount > 0 else "")
        + " RETURNING used_seconds + reserved_seconds - :amount",
        {"amount": amount, "limit": limit, "user": user_id, "period": period},
    )
    fitted = row is not None
    if row is None:
        row = await tx.fetchone(
            "SELECT used_seconds + reserved_seconds FROM usage WHERE user_id = ? AND period = ?",
            (user_id, period),
        )
        assert row is not None
    return fitted, None if limit is None else max(0, limit - int(row[0]))


RELEASE = """
    UPDATE usage SET reserved_seconds = CASE WHEN reserved_seconds > :amount
                                             THEN reserved_seconds - :amount ELSE 0 END,
                     used_seconds = used_seconds + :billed
    WHERE user_id = :user AND period = :period
"""

BATCH_SHARE = """
    UPDATE usage SET batch_seconds = batch_seconds + :batch
    WHERE user_id = :user AND period = :period AND :batch > 0
"""
"""Of the seconds RELEASE billed, those transcribed through the batch API."""
