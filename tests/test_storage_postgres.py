"""The PostgreSQL side of the database seam: pooled connections the server closed are replaced
without failing a query, and a healthy connection is handed out without a round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from storage.db import Database
from tests.helpers import Db

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
