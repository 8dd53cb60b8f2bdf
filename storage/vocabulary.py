"""Vocabulary lists: names and terms sent to Mistral as `context_bias`, per user or per group."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.options import new_terms
from storage.db import Database, Read, Tx, now


class Scope(StrEnum):
    USER = "user"
    """A user's list, for their notes in private."""
    CHAT = "chat"
    """A group's list, for every note in it."""


def owner(*, chat_id: int | None, user_id: int) -> tuple[Scope, int]:
    """Whose list applies: the group's in a group (chat_id), else the user's."""
    return (Scope.CHAT, chat_id) if chat_id is not None else (Scope.USER, user_id)


@dataclass(frozen=True, slots=True)
class Added:
    """What an addition did: the terms added (none when they did not fit), and how many the
    list holds afterwards."""

    added: list[str]
    total: int
    fitted: bool


def listed(scope: Scope, owner_id: int) -> Read[list[str]]:
    """The list, oldest first."""
    return Read(
        "SELECT term FROM vocabulary WHERE scope = ? AND owner_id = ? ORDER BY position",
        (scope.value, owner_id),
        lambda rows: [str(row[0]) for row in rows],
    )


async def _terms(tx: Tx | Database, scope: Scope, owner_id: int) -> list[str]:
    return await listed(scope, owner_id).on(tx)


async def terms(db: Database, scope: Scope, owner_id: int) -> list[str]:
    """The list, oldest first."""
    return await _terms(db, scope, owner_id)


async def add(db: Database, scope: Scope, owner_id: int, given: list[str], limit: int) -> Added:
    """Add the terms not yet listed (case-insensitively), all or none: none when the list would
    pass `limit`."""
    async with db.transaction() as tx:
        # One change of a list at a time, across replicas (a group's id is negative: no user's).
        await tx.lock(owner_id)
        existing = await _terms(tx, scope, owner_id)
        fresh = new_terms(existing, given)
        if len(existing) + len(fresh) > limit:
            return Added([], len(existing), fitted=False)
        stamp = now()
        for position, term in enumerate(fresh, start=len(existing)):
            await tx.execute(
                "INSERT INTO vocabulary (scope, owner_id, term, position, added_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (scope.value, owner_id, term, position, stamp),
            )
        return Added(fresh, len(existing) + len(fresh), fitted=True)


async def clear(db: Database, scope: Scope, owner_id: int) -> int:
    """Empty the list; how many terms it held."""
    return await db.execute(
        "DELETE FROM vocabulary WHERE scope = ? AND owner_id = ?", (scope.value, owner_id)
    )
