"""The database: SQLite (one file) or PostgreSQL (shared by replicas); connect, migrate, and run
short transactions through one small seam, so every query is written once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, overload

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.domain.redact import redact_url
from storage.migrations import MIGRATION_LOCK, MIGRATIONS, POSTGRES_MIGRATIONS, statements
from storage.postgres import POOL_SIZE, for_postgres, one_line, record, returns_rows, usable
from storage.sqlite import busy, for_sqlite, wal_checkpoint

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


class Row(Protocol):
    """A result row, read by position or by column name (sqlite3.Row, or postgres.Record)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


Params = Iterable[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Read(Generic[T]):
    """One SELECT and what its rows mean, for Database.read() to send beside others."""

    sql: str
    params: Params
    parse: Callable[[list[Row]], T]

    async def on(self, tx: Tx | Database) -> T:
        """Run alone, in `tx` or on the database."""
        return self.parse(await tx.fetchall(self.sql, self.params))


class DatabaseUnavailable(Exception):
    """The database server cannot be reached or refused us; the message is one line, no
    password."""


TRANSIENT: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
    DatabaseUnavailable,
)
"""Errors a moment later may not repeat: SQLite's lock held past the busy timeout, a
PostgreSQL server restarting or out of reach."""


class Tx(ABC):
    """One connection inside a transaction; SQL in SQLite's style (`?` and `:name` marks)."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the rows it changed."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def lock(self, key: int) -> None:
        """Hold an exclusive lock on `key` (a user id) until the transaction ends."""

    async def send(self, sql: str, params: Params = ()) -> None:
        """Run one statement whose result is not read. PostgreSQL sends it with the next
        statement or the COMMIT, in the same round trip; its error is raised there."""
        await self.execute(sql, params)

    async def fetch_each(self, *statements: tuple[str, Params]) -> list[list[Row]]:
        """Run the statements in order; the rows of each. PostgreSQL sends them together, with
        whatever was queued before, in one round trip."""
        return [await self.fetchall(sql, params) for sql, params in statements]


class _SqliteTx(Tx):
    """Statements run at once on the event loop's thread: one takes tens of microseconds, less
    than handing it to another thread and back would."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = self._conn.execute(for_sqlite(sql), _values(params)).fetchall()
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(for_sqlite(sql), _values(params)).rowcount

    async def lock(self, key: int) -> None:
        """Nothing to do: SQLite runs one write transaction at a time."""


class _PostgresTx(Tx):
    """Statements on a pooled connection, in pipeline mode within a transaction: BEGIN, `lock`
    and `send` are queued and go with the next statement read, or the COMMIT, in one round trip."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], pipeline: psycopg.AsyncPipeline | None = None
    ) -> None:
        self._conn = conn
        self._pipeline = pipeline

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._run(sql, params)
        return list(await cursor.fetchall()) if returns_rows(cursor) else []

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._run(sql, params)
        return cursor.rowcount

    async def send(self, sql: str, params: Params = ()) -> None:
        await self._conn.execute(for_postgres(sql), _values(params))

    async def fetch_each(self, *statements: tuple[str, Params]) -> list[list[Row]]:
        if self._pipeline is None:
            return await super().fetch_each(*statements)
        cursors = [await self._conn.execute(for_postgres(s), _values(p)) for s, p in statements]
        await self._pipeline.sync()
        return [list(await c.fetchall()) if returns_rows(c) else [] for c in cursors]

    async def lock(self, key: int) -> None:
        await self.send("SELECT pg_advisory_xact_lock(?)", (key,))

    async def _run(self, sql: str, params: Params) -> psycopg.AsyncCursor[Any]:
        """The statement run and its result read, with whatever was queued before it."""
        cursor = await self._conn.execute(for_postgres(sql), _values(params))
        if self._pipeline is not None:
            await self._pipeline.sync()
        return cursor


class Database:
    """The bot's database: SQLite at `path`, or PostgreSQL when `url` is set.

    SQLite: one connection shared by all coroutines, used on the event loop's thread; writes
    are serialised by a lock and kept short; WAL lets `voxgram health` and backups read while
    the bot writes. Another process holding the write lock is waited for without blocking the
    loop: the statement is tried again after a short sleep, for up to BUSY_SECONDS.

    PostgreSQL: a pool of connections in READ COMMITTED; queries that SQLite's single writer
    kept safe take row locks (`FOR UPDATE`, stripped on SQLite), check their conditions in the
    UPDATE itself, or take `Tx.lock` for the user they change.
    """

    def __init__(self, path: Path, url: str = "") -> None:
        self.path = path
        self.url = url
        self._sqlite: sqlite3.Connection | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def postgres(self) -> bool:
        return bool(self.url)

    async def open(self) -> None:
        """Connect and migrate; raises DatabaseUnavailable when PostgreSQL cannot be reached."""
        if self.postgres:
            await self._open_postgres()
        else:
            await self._open_sqlite()
        await self._migrate()

    async def _open_sqlite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No busy timeout: SQLite would wait for another process's lock inside the call,
        # holding up the event loop; busy() waits between tries instead.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        conn.row_factory = sqlite3.Row
        try:
            await busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (purged transcripts, /forgetme) are overwritten, not left in free
            # pages.
            conn.execute("PRAGMA secure_delete=ON")
        except BaseException:
            conn.close()
            raise
        self._sqlite = conn

    async def _open_postgres(self) -> None:
        # One connection first: its error says why, where the pool's would only time out.
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"cannot connect to {redact_url(self.url)}: {one_line(exc, self.url)}"
            ) from None
        await conn.close()
        self._pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            # A connection the server dropped (a restart, a failover) is replaced when next
            # taken, rather than failing the query that gets it (usable).
            check=usable,
            # Prepared statements off: replicas often reach PostgreSQL through PgBouncer in
            # transaction mode, where a prepared statement may meet another connection.
            kwargs={"autocommit": True, "row_factory": record, "prepare_threshold": None},
        )
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file and empty it, so what was
        deleted (overwritten there by secure_delete) is not left readable in the -wal file.
        PostgreSQL keeps no such file beside the bot: nothing to do."""
        if self._sqlite is None:
            return
        async with self._lock:
            # Its own connection in a thread: a checkpoint writes and syncs the whole log.
            await asyncio.to_thread(wal_checkpoint, self.path)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN … COMMIT, rolled back on any error. SQLite: BEGIN IMMEDIATE, one at a time;
        PostgreSQL: one pooled connection, READ COMMITTED."""
        if self._pool is not None:
            # Autocommit connections: BEGIN and COMMIT are ours to send. The pipeline's end
            # sends the COMMIT (and raises its error); on an error in the block the pool's
            # connection block rolls back.
            async with self._pool.connection() as pg, pg.pipeline() as pipeline:
                await pg.execute("BEGIN")
                yield _PostgresTx(pg, pipeline)
                await pg.execute("COMMIT")
            return
        conn = self._sqlite_conn()
        async with self._lock:
            await busy(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield _SqliteTx(conn)
                conn.execute("COMMIT")
            except BaseException:
                # Never leave the shared connection inside a transaction (a failed COMMIT
                # would otherwise break every later write).
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def holding(self, key: int) -> AsyncIterator[bool]:
        """Whether this process alone holds `key` among the replicas, until the block ends: a
        PostgreSQL advisory lock, tried once, in a transaction of its own. SQLite: always
        True, the process is alone."""
        if self._pool is None:
            yield True
            return
        async with self._pool.connection() as pg, pg.transaction():
            cursor = await pg.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,))
            row = await cursor.fetchone()
            yield bool(row is not None and row[0])

    @asynccontextmanager
    async def _single(self) -> AsyncIterator[Tx]:
        """A connection for one statement outside any transaction (autocommit)."""
        if self._pool is not None:
            async with self._pool.connection() as pg:
                yield _PostgresTx(pg)
            return
        async with self._lock:
            yield _BusySqliteTx(self._sqlite_conn())

    @overload
    async def read(self, a: Read[A], b: Read[B], /) -> tuple[A, B]: ...

    @overload
    async def read(self, a: Read[A], b: Read[B], c: Read[C], /) -> tuple[A, B, C]: ...

    @overload
    async def read(
        self, a: Read[A], b: Read[B], c: Read[C], d: Read[D], /
    ) -> tuple[A, B, C, D]: ...

    async def read(self, *reads: Read[Any]) -> tuple[Any, ...]:
        """The reads' values, each read outside any transaction. PostgreSQL sends them all on
        one pooled connection in one round trip."""
        statements = [(r.sql, r.params) for r in reads]
        if self._pool is not None:
            async with self._pool.connection() as pg, pg.pipeline() as pipeline:
                results = await _PostgresTx(pg, pipeline).fetch_each(*statements)
        else:
            async with self._single() as tx:
                results = await tx.fetch_each(*statements)
        return tuple(r.parse(rows) for r, rows in zip(reads, results, strict=True))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._single() as tx:
            return await tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._single() as tx:
            return await tx.fetchall(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; return the rows it changed."""
        if self._pool is not None:
            # PostgreSQL runs a lone statement as a transaction of its own (autocommit), without
            # the round trips of BEGIN and COMMIT.
            async with self._single() as tx:
                return await tx.execute(sql, params)
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def execute_fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run one statement in its own transaction; return the first row it returns (an
        INSERT or UPDATE … RETURNING), if any."""
        if self._pool is not None:
            async with self._single() as tx:
                return await tx.fetchone(sql, params)
        async with self.transaction() as tx:
            return await tx.fetchone(sql, params)

    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._sqlite is None:
            raise RuntimeError("database is not open")
        return self._sqlite

    async def _migrate(self) -> None:
        """Bring the schema up to date, once even when several processes start together."""
        async with self.transaction() as tx:
            await tx.lock(MIGRATION_LOCK)
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = await tx.fetchone("SELECT version FROM schema_version")
            version = int(row[0]) if row else 0
            if row is None:
                await tx.execute("INSERT INTO schema_version (version) VALUES (0)")
            steps = POSTGRES_MIGRATIONS if self.postgres else MIGRATIONS
            for number, script in enumerate(steps[version:], start=version + 1):
                for statement in statements(script):
                    await tx.execute(statement)
                await tx.execute("UPDATE schema_version SET version = ?", (number,))
                log.info("database migrated to version %d", number)


class _BusySqliteTx(_SqliteTx):
    """Statements outside a transaction (reads): each waits out another process's lock."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await busy(lambda: self._conn.execute(for_sqlite(sql), _values(params)))
        rows: list[Row] = cursor.fetchall()
        return rows


def _values(params: Params) -> Sequence[Any] | dict[str, Any]:
    return params if isinstance(params, dict) else tuple(params)


def now() -> int:
    """Unix time in whole seconds, the only clock the database stores."""
    return int(time.time())
