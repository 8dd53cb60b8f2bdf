"""The SQLite file: connect (WAL, busy timeout), migrate, and run short serialised transactions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

# Each entry moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        user_id        INTEGER PRIMARY KEY,
        quota_seconds  INTEGER,           -- NULL: DEFAULT_QUOTA_SECONDS; -1: unlimited
        quota_set_by   INTEGER,           -- the admin who set quota_seconds
        blocked        INTEGER NOT NULL DEFAULT 0,
        language       TEXT,              -- pinned recognition language, NULL: auto
        updated_at     INTEGER NOT NULL
    );
    CREATE TABLE usage (
        user_id           INTEGER NOT NULL,
        period            TEXT NOT NULL,  -- '2026-11', '2026-11-25' or 'total'
        used_seconds      INTEGER NOT NULL DEFAULT 0,
        reserved_seconds  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, period)
    );
    CREATE TABLE jobs (
        id                  INTEGER PRIMARY KEY,
        chat_id             INTEGER NOT NULL,
        message_id          INTEGER NOT NULL,  -- the note transcribed; the reply goes to it
        chat_type           TEXT NOT NULL,
        thread_id           INTEGER,
        payer_id            INTEGER NOT NULL,
        trigger             TEXT NOT NULL,     -- private | auto | command
        kind                TEXT NOT NULL,     -- voice | audio | document | video_note | video
        file_id             TEXT NOT NULL,
        file_size           INTEGER,
        file_name           TEXT,
        declared_seconds    INTEGER,
        header              TEXT,
        language            TEXT,
        user_language       TEXT,
        period              TEXT NOT NULL,
        reserved_seconds    INTEGER NOT NULL DEFAULT 0,
        billed_seconds      INTEGER,
        status              TEXT NOT NULL,     -- new | queued | running | done | failed
        error               TEXT,
        status_message_id   INTEGER,
        attempts            INTEGER NOT NULL DEFAULT 0,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        UNIQUE (chat_id, message_id)
    );
    CREATE INDEX jobs_by_status ON jobs (status, id);
    CREATE TABLE mistral_files (
        file_id     TEXT PRIMARY KEY,
        job_id      INTEGER,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE chats (
        chat_id          INTEGER PRIMARY KEY,
        auto_transcribe  INTEGER NOT NULL DEFAULT 1,
        language         TEXT,
        onboarded        INTEGER NOT NULL DEFAULT 0,
        updated_at       INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE quota_notices (
        chat_id  INTEGER NOT NULL,
        user_id  INTEGER NOT NULL,
        period   TEXT NOT NULL,
        PRIMARY KEY (chat_id, user_id, period)
    );
    """,
    """
    CREATE TABLE transcripts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: old buttons stay dead
        job_id      INTEGER NOT NULL UNIQUE,
        user_id     INTEGER NOT NULL,   -- who paid for it; /forgetme deletes by it
        chat_id     INTEGER NOT NULL,   -- its buttons work in this chat only
        body        TEXT NOT NULL,      -- the transcript as JSON
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE INDEX transcripts_by_expiry ON transcripts (expires_at);
    CREATE INDEX transcripts_by_user ON transcripts (user_id);
    """,
    """
    CREATE TABLE meta (
        name   TEXT PRIMARY KEY,
        value  BLOB NOT NULL
    );
    CREATE TABLE carried_usage (
        pseudonym  BLOB NOT NULL,     -- HMAC-SHA256 of a forgotten user id, keyed from meta
        period     TEXT NOT NULL,
        seconds    INTEGER NOT NULL,  -- used and reserved when they sent /forgetme
        PRIMARY KEY (pseudonym, period)
    );
    """,
    """
    ALTER TABLE jobs ADD COLUMN author_id INTEGER;         -- who sent the note (NULL: unknown)
    ALTER TABLE transcripts ADD COLUMN author_id INTEGER;  -- /forgetme deletes by it too
    CREATE INDEX transcripts_by_author ON transcripts (author_id);
    """,
    """
    CREATE INDEX jobs_by_status_chat ON jobs (status, chat_id);  -- running jobs per chat, at claim
    """,
)

Row = aiosqlite.Row


class Database:
    """One connection to the bot's SQLite file, shared by all coroutines.

    Writes are serialised by a lock and kept short; WAL lets `voxgram health` and backups read
    while the bot writes, and the busy timeout covers another process holding the lock briefly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=10000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (purged transcripts, /forgetme) are overwritten, not left in free pages.
        await conn.execute("PRAGMA secure_delete=ON")
        self._conn = conn
        await self._migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; one at a time."""
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
                await self.conn.commit()
            except BaseException:
                # Never leave the shared connection inside a transaction (a cancelled BEGIN
                # or a failed COMMIT would otherwise break every later write).
                if self.conn.in_transaction:
                    await self.conn.rollback()
                raise

    async def fetchone(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> Row | None:
        async with self._lock, self.conn.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[Row]:
        async with self._lock, self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; return the rows it changed."""
        async with self.transaction() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def _migrate(self) -> None:
        async with self.transaction() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            async with conn.execute("SELECT version FROM schema_version") as cursor:
                row = await cursor.fetchone()
            version = int(row[0]) if row else 0
            if row is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    await conn.execute(statement)
                await conn.execute("UPDATE schema_version SET version = ?", (number,))
                log.info("database migrated to version %d", number)


def _statements(script: str) -> list[str]:
    """Split a migration script (no semicolons inside statements) into statements."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def now() -> int:
    """Unix time in whole seconds, the only clock the database stores."""
    return int(time.time())
