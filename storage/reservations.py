"""Reservations on a user's usage row, inside a caller's transaction: what fits, what is held,
what is given back."""

from __future__ import annotations

from typing import Any

from storage import carried
from storage.db import Tx


def standing(user: str, period: str) -> str:
    """Three columns for a caller's query, read before `reserve`: the user's own quota (NULL:
    the default), whether anybody forgot themselves in the period (seconds carried under a
    pseudonym, maybe this user's to fold back), and whether the user's usage row of the period
    exists. `user` and `period` are SQL expressions."""
    return (
        f"(SELECT quota_seconds FROM users WHERE user_id = {user}),"
        f" EXISTS (SELECT 1 FROM carried_usage WHERE period = {period}),"
        f" EXISTS (SELECT 1 FROM usage WHERE user_id = {user} AND period = {period})"
    )


async def reserve(
    tx: Tx,
    user_id: int,
    period: str,
    amount: int,
    read: tuple[Any, Any, Any],
    *,
    default: int,
    unlimited: bool,
) -> tuple[bool, int | None]:
    """Add `amount` to the reservation if it fits the user's quota per period (their own,
    else `default`; none when `unlimited` or negative); return (fitted, seconds left before,
    None when there is no limit). `read` holds the values of the `standing` columns.

    The fit is checked by the UPDATE itself: PostgreSQL re-checks it on the row as the last
    concurrent reservation left it, so concurrent notes of one user never overspend.
    """
    own, carried_any, counted = read
    if carried_any:
        await carried.fold(tx, user_id, period)
    quota = default if own is None else int(own)
    limit = None if unlimited or quota < 0 else quota
    if not counted:
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
