"""Transcripts kept for the .srt/.txt buttons until TRANSCRIPT_RETENTION_HOURS have passed.

Times are passed in by the caller (its clock), so retention can be tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, Read


@dataclass(frozen=True, slots=True)
class Kept:
    """A retained transcript: where its buttons work, when it was made, its JSON body."""

    id: int
    chat_id: int
    created_at: int
    body: str


@dataclass(frozen=True, slots=True)
class NewTranscript:
    """A job's transcript to keep. `user_id` paid for it, `author_id` sent the note: /forgetme
    of either deletes it. With `file_unique_id`, later notes of the same recording and
    `options` may reuse it."""

    job_id: int
    user_id: int
    author_id: int | None
    chat_id: int
    body: str
    created_at: int
    expires_at: int
    file_unique_id: str | None = None
    options: str | None = None


KEEP = """
    INSERT INTO transcripts (job_id, user_id, author_id, chat_id, body, created_at,
                             expires_at, file_unique_id, options)
    VALUES (:job_id, :user_id, :author_id, :chat_id, :body, :created_at,
            :expires_at, :file_unique_id, :options)
    ON CONFLICT (job_id) DO UPDATE SET body = excluded.body
    RETURNING id
"""
"""Store a job's transcript (again, if the job is delivered twice), with NewTranscript's
fields; returns its id. Run by jobs.settle_keeping, in the transaction that charges it."""


async def get(db: Database, transcript_id: int, *, now: int) -> Kept | None:
    """The transcript if it is still retained, else None."""
    row = await db.fetchone(
        "SELECT id, chat_id, created_at, body FROM transcripts WHERE id = ? AND expires_at > ?",
        (transcript_id, now),
    )
    if row is None:
        return None
    return Kept(id=int(row[0]), chat_id=int(row[1]), created_at=int(row[2]), body=str(row[3]))


async def of_job(db: Database, job_id: int, *, now: int) -> Kept | None:
    """The retained transcript a job made, if it is still retained."""
    row = await db.fetchone(
        "SELECT id FROM transcripts WHERE job_id = ? AND expires_at > ?", (job_id, now)
    )
    return None if row is None else await get(db, int(row[0]), now=now)


async def of_recording(db: Database, file_unique_id: str, options: str, *, now: int) -> Kept | None:
    """The newest retained transcript of a recording made with these options, if any."""
    row = await db.fetchone(
        "SELECT id, chat_id, created_at, body FROM transcripts"
        " WHERE file_unique_id = ? AND options = ? AND expires_at > ?"
        " ORDER BY id DESC LIMIT 1",
        (file_unique_id, options, now),
    )
    if row is None:
        return None
    return Kept(id=int(row[0]), chat_id=int(row[1]), created_at=int(row[2]), body=str(row[3]))


def options_kept(file_unique_id: str | None, *, now: int) -> Read[set[str]]:
    """The options of the retained transcripts of a recording: a note of it with one of these
    options may reuse one (of_recording). No recording (None) has none: NULL equals nothing."""
    return Read(
        "SELECT DISTINCT options FROM transcripts"
        " WHERE file_unique_id = ? AND expires_at > ? AND options IS NOT NULL",
        (file_unique_id, now),
        lambda rows: {str(row[0]) for row in rows},
    )


async def note_id(db: Database, transcript_id: int) -> int | None:
    """The message id of the note a transcript transcribes; None when its job is gone."""
    row = await db.fetchone(
        "SELECT j.message_id FROM transcripts AS t JOIN jobs AS j ON j.id = t.job_id"
        " WHERE t.id = ?",
        (transcript_id,),
    )
    return None if row is None else int(row[0])


async def purge(db: Database, *, now: int) -> int:
    """Delete every transcript whose retention has ended; return how many."""
    return await db.execute("DELETE FROM transcripts WHERE expires_at <= ?", (now,))


async def scrub(db: Database, *, before: int) -> int:
    """Forget which file and whose name finished jobs carried once `before` has passed: the
    rows stay (counts, /stats), the pointers to the voice do not. Returns how many."""
    return await db.execute(
        "UPDATE jobs SET file_id = '', file_name = NULL, header = NULL"
        " WHERE status IN ('done', 'failed') AND updated_at < ? AND file_id <> ''",
        (before,),
    )
