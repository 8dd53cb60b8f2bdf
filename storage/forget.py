"""/forgetme: delete what is stored about one user, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from storage import carried
from storage.db import Database, Tx, now

_UNFINISHED = "('new', 'queued', 'running', 'waiting_batch')"


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What was deleted, and what an admin set that was kept."""

    jobs: int
    periods: int
    transcripts: int
    language: bool
    vocabulary: int
    """Terms of the user's /vocab list."""
    carried_seconds: int
    """This period's seconds, kept under a pseudonym so that forgetting does not reset the quota."""
    kept_quota: int | None
    """The quota a bot admin gave the user (-1: unlimited), kept; None when there was none."""
    kept_block: bool


async def forget_user(db: Database, user_id: int, period: str) -> Forgotten | None:
    """Delete the user's jobs, usage, quota notices, retained transcripts, settings and
    vocabulary.

    A quota or block set by a bot admin is the admin's decision, not the user's data, and is
    kept; so is the count of seconds of the current `period`, but only under a pseudonym
    (storage/carried.py), until the period ends. Returns None, deleting nothing, while a note
    of the user is still being transcribed (its job and reservation are needed to finish and
    charge it).
    """
    forgotten = await _forget(db, user_id, period)
    if forgotten is not None:
        await db.checkpoint()
    return forgotten


async def _forget(db: Database, user_id: int, period: str) -> Forgotten | None:
    async with db.transaction() as tx:
        # Not while a note of theirs is being accepted by another replica, nor twice at once.
        await tx.lock(user_id)

        async def count(sql: str) -> int:
            row = await tx.fetchone(sql, {"user": user_id})
            return int(row[0]) if row else 0

        async def delete(sql: str) -> int:
            return await tx.execute(sql, {"user": user_id})

        # A note of theirs that someone else is paying for would retain its transcript later.
        if await count(
            "SELECT COUNT(*) FROM jobs WHERE (payer_id = :user OR author_id = :user)"
            f" AND status IN {_UNFINISHED}"
        ):
            return None
        await delete(
            "UPDATE mistral_files SET job_id = NULL"
            " WHERE job_id IN (SELECT id FROM jobs WHERE payer_id = :user)"
        )
        transcripts = await delete(
            "DELETE FROM transcripts WHERE user_id = :user OR author_id = :user"
        )
        jobs = await delete("DELETE FROM jobs WHERE payer_id = :user")
        # Jobs of notes they sent but others paid for are the payers' records: unlinked, and
        # rid of what names or points at the note (a "Forwarded from" header, the file id).
        await delete(
            "UPDATE jobs SET author_id = NULL, header = NULL, file_id = '', file_name = NULL"
            " WHERE author_id = :user"
        )
        carried_seconds = await carried.carry(tx, user_id, period)
        periods = await delete("DELETE FROM usage WHERE user_id = :user")
        await delete("DELETE FROM quota_notices WHERE user_id = :user")
        vocabulary = await delete(
            "DELETE FROM vocabulary WHERE scope = 'user' AND owner_id = :user"
        )
        language, kept_quota, kept_block = await _forget_settings(tx, user_id)
        return Forgotten(
            jobs=jobs,
            periods=periods,
            transcripts=transcripts,
            language=language,
            vocabulary=vocabulary,
            carried_seconds=carried_seconds,
            kept_quota=kept_quota,
            kept_block=kept_block,
        )


async def _forget_settings(tx: Tx, user_id: int) -> tuple[bool, int | None, bool]:
    """Delete the user's row, or only their settings when an admin's quota or block is kept;
    (a language was set, the kept quota, a kept block)."""
    row = await tx.fetchone(
        "SELECT quota_seconds, blocked, language FROM users WHERE user_id = ?", (user_id,)
    )
    kept_quota = None if row is None or row[0] is None else int(row[0])
    kept_block = bool(row and row[1])
    if kept_quota is not None or kept_block:
        await tx.execute(
            "UPDATE users SET language = NULL, speakers = 0, updated_at = ? WHERE user_id = ?",
            (now(), user_id),
        )
    else:
        await tx.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
    return bool(row and row[2]), kept_quota, kept_block
