"""The database seam on SQLite and on PostgreSQL: statements sent without reading their result
(Tx.send) still fail their transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import psycopg
import pytest

from storage.db import Database
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
