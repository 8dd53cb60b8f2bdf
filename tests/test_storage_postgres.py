"""The PostgreSQL side of the database seam: pooled connections the server closed are replaced
without failing a query, a healthy connection is handed out without a round trip, and the
round trips a statement or a transaction takes (libpq's trace of the wire)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq
from psycopg_pool import AsyncConnectionPool

from storage import jobs
from storage.db import Database
from storage.job_rows import Accepted
from storage.postgres import POOL_SIZE
from tests.helpers import Db
from tests.test_storage_jobs import NOTE

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The connections the pool asked a query of before handing them out."""
    asked: list[object] = []
    real = AsyncConnectionPool.check_connection

    async def check(conn: Any) -> None:
        asked.append(conn)
        await real(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(check))
    return asked


@pytest.fixture
async def db(database: Db, checks: list[object]) -> AsyncIterator[Database]:
    handle = database.open()
    await handle.open()
    try:
        yield handle
    finally:
        await handle.close()


def close_connections(url: str) -> int:
    """Have the server close every other connection to the database, as a restart does;
    returns once they are gone."""
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


async def test_a_healthy_connection_is_handed_out_without_a_check(
    db: Database, checks: list[object]
) -> None:
    for _ in range(5):
        assert await db.fetchone("SELECT 1") is not None
        async with db.transaction() as tx:
            assert await tx.fetchone("SELECT 1") is not None
    assert checks == []


async def test_connections_the_server_closed_are_replaced_without_failing_a_query(
    database: Db, db: Database, checks: list[object]
) -> None:
    assert await db.fetchone("SELECT 1") is not None
    assert close_connections(database.url) >= 1
    row = await db.fetchone("SELECT 2")
    assert row is not None and row[0] == 2
    assert len(checks) >= 1
    assert close_connections(database.url) >= 1
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE replaced (n INTEGER)")
    assert await db.fetchall("SELECT n FROM replaced") == []


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[], list[str]]]:
    """The protocol messages of the connections the pool lends from now on, as libpq traces
    them ("F" the client's, "B" the server's); each read ends the tracing until the pool lends
    a connection again."""
    path = tmp_path / "wire.log"
    traced: list[psycopg.AsyncConnection[Any]] = []
    seen = [0]  # lines read so far, at each read
    getconn = AsyncConnectionPool.getconn
    with path.open("w") as out:

        async def lend(pool: AsyncConnectionPool[Any], **kw: Any) -> psycopg.AsyncConnection[Any]:
            conn = await getconn(pool, **kw)
            if not any(conn is seen for seen in traced):
                conn.pgconn.trace(out.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
                traced.append(conn)
            return conn

        def read() -> list[str]:
            """The messages since the last read."""
            for conn in traced:
                if not conn.closed:
                    conn.pgconn.untrace()  # which flushes what libpq holds
            traced.clear()
            lines = path.read_text().splitlines()
            seen.append(len(lines))
            return lines[seen[-2] :]

        monkeypatch.setattr(AsyncConnectionPool, "getconn", lend)
        yield read
        read()


def round_trips(messages: list[str]) -> int:
    """How many times the client waited for the server to be ready again."""
    return sum("ReadyForQuery" in line for line in messages)


async def test_a_lone_statement_is_one_round_trip_without_begin_and_commit(
    db: Database, wire: Callable[[], list[str]]
) -> None:
    await db.execute("CREATE TABLE lone (n INTEGER PRIMARY KEY)")
    assert await db.execute("INSERT INTO lone (n) VALUES (?)", (1,)) == 1
    row = await db.execute_fetchone("UPDATE lone SET n = n + 1 RETURNING n")
    assert row is not None and row[0] == 2
    sent = wire()
    assert round_trips(sent) == 3
    assert not [line for line in sent if "BEGIN" in line or "COMMIT" in line]


async def test_a_claim_is_one_round_trip(db: Database, wire: Callable[[], list[str]]) -> None:
    accepted = await jobs.accept(db, NOTE, reserve=10, default_quota=600, unlimited=False)
    wire()  # what the acceptance exchanged
    job = await jobs.claim_next(db, per_chat=1, owner="a", lease_seconds=60)
    assert job is not None and job.id == accepted.job_id
    assert round_trips(wire()) == 1


async def test_a_claim_waits_for_a_queued_row_another_transaction_holds(
    database: Db, db: Database
) -> None:
    accepted = await jobs.accept(db, NOTE, reserve=10, default_quota=600, unlimited=False)
    async with await psycopg.AsyncConnection.connect(database.url) as other:
        await other.execute("SELECT id FROM jobs FOR UPDATE")  # its status message, say
        claim = asyncio.create_task(jobs.claim_next(db, per_chat=1))
        await asyncio.sleep(0.2)
        assert not claim.done()
        await other.rollback()
        job = await asyncio.wait_for(claim, timeout=5)
    assert job is not None and job.id == accepted.job_id


async def test_begin_locks_and_sent_statements_go_with_the_next_statement_read(
    db: Database, wire: Callable[[], list[str]]
) -> None:
    await db.execute("CREATE TABLE queued (n INTEGER PRIMARY KEY)")
    wire()
    async with db.transaction() as tx:
        await tx.lock(41)
        await tx.send("INSERT INTO queued (n) VALUES (?)", (1,))
        assert [tuple(row) for row in await tx.fetchall("SELECT n FROM queued")] == [(1,)]
        await tx.send("INSERT INTO queued (n) VALUES (?)", (2,))
    # BEGIN, the lock, the first insert and the read; then the second insert and COMMIT.
    assert round_trips(wire()) == 2
    rows = await db.fetchall("SELECT n FROM queued ORDER BY n")
    assert [tuple(row) for row in rows] == [(1,), (2,)]


async def test_a_transaction_cancelled_midway_commits_nothing_and_its_connection_serves_on(
    db: Database,
) -> None:
    await db.execute("CREATE TABLE cancelled (n INTEGER)")

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO cancelled (n) VALUES (1)")
            await tx.fetchall("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetchall("SELECT n FROM cancelled") == []
    for n in range(POOL_SIZE + 1):  # every pooled connection, the cancelled one among them
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO cancelled (n) VALUES (?)", (n,))
    assert len(await db.fetchall("SELECT n FROM cancelled")) == POOL_SIZE + 1


async def test_accepting_a_note_takes_four_round_trips(
    db: Database, wire: Callable[[], list[str]]
) -> None:
    for n in range(2):  # the first of the period creates the usage row on the way
        accepted = await jobs.accept(
            db, replace(NOTE, message_id=n), reserve=10, default_quota=600, unlimited=False
        )
        assert accepted.outcome is Accepted.CREATED
        # BEGIN, the lock, the note's row and the payer's standing; the reservation; the
        # job's row; COMMIT.
        assert round_trips(wire()) == 4
