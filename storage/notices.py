"""Quota notices: a user over quota in a group's auto mode is told once per period."""

from __future__ import annotations

from storage.db import Database


async def first_quota_notice(db: Database, chat_id: int, user_id: int, period: str) -> bool:
    """True the first time this period that a user out of quota is told so in this group."""
    inserted = await db.execute(
        "INSERT INTO quota_notices (chat_id, user_id, period) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (chat_id, user_id, period),
    )
    return inserted == 1
