"""The database seam on SQLite and on PostgreSQL: statements sent without reading their result
(Tx.send) still fail their transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import psycopg
import pytest

from storage.db import Database, Read
from tests.helpers import Db
from tests.postgres import both_backends

pytestmark = both_backends


@pytest.fixture
async def db(database: Db) -> AsyncIterator[Database]:
    handle = database.open()
    await handle.open()
    try:
        yield handle
    finally:
        await handle.close()


async def test_a_sent_statement_that_fails_rolls_its_transaction_back(db: Database) -> None:
    await db.execute("CREATE TABLE sent (n INTEGER PRIMARY KEY)")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO sent (n) VALUES (1)")
            await tx.send("INSERT INTO sent (n) VALUES (1)")
    assert await db.fetchall("SELECT n FROM sent") == []
    async with db.transaction() as tx:
        await tx.send("INSERT INTO sent (n) VALUES (2)")
    assert [tuple(row) for row in await db.fetchall("SELECT n FROM sent")] == [(2,)]


async def test_a_sent_statement_that_fails_fails_the_next_statement_read(db: Database) -> None:
    await db.execute("CREATE TABLE sent (n INTEGER PRIMARY KEY)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO sent (n) VALUES (1)")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        async with db.transaction() as tx:
            await tx.send("INSERT INTO sent (n) VALUES (1)")
            await tx.fetchall("SELECT n FROM sent")
    assert [tuple(row) for row in await db.fetchall("SELECT n FROM sent")] == [(1,)]


async def test_reads_sent_together_each_get_their_own_rows_on_one_connection(
    db: Database,
) -> None:
    await db.execute("CREATE TABLE kept (n INTEGER PRIMARY KEY, word TEXT)")
    async with db.transaction() as tx:
        for n, word in enumerate(["alpha", "bravo", "charlie"]):
            await tx.send("INSERT INTO kept (n, word) VALUES (?, ?)", (n, word))
    if db._pool is not None:
        db._pool.pop_stats()

    words, count, none = await db.read(
        Read(
            "SELECT word FROM kept WHERE n >= ? ORDER BY n", (1,), lambda rows: [r[0] for r in rows]
        ),
        Read("SELECT COUNT(*) AS c FROM kept", (), lambda rows: int(rows[0]["c"])),
        Read("SELECT word FROM kept WHERE word = ?", (None,), lambda rows: len(rows)),
    )

    assert (words, count, none) == (["bravo", "charlie"], 3, 0)
    if db._pool is not None:
        asked = db._pool.pop_stats().get("requests_num", 0)
        assert asked == 1  # all three on one pooled connection


async def test_a_failing_read_among_others_raises_and_leaves_the_database_usable(
    db: Database,
) -> None:
    await db.execute("CREATE TABLE kept (n INTEGER PRIMARY KEY)")
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
        await db.read(
            Read("SELECT n FROM kept", (), list),
            Read("SELECT n FROM missing", (), list),
        )
    assert await db.read(
        Read("SELECT COUNT(*) FROM kept", (), lambda rows: int(rows[0][0])),
        Read("SELECT 1", (), lambda rows: int(rows[0][0])),
    ) == (0, 1)
