"""`voxgram migrate-db`: every row of a SQLite database into an empty PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

from storage.db import Database, Tx

SKIPPED = ("schema_version",)
"""Tables each database keeps for itself."""


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds rows: nothing is copied over them."""


async def copy_sqlite(path: Path, url: str) -> dict[str, int]:
    """Copy every table of the SQLite database at `path` into the PostgreSQL database at `url`,
    in one transaction; return the rows copied per table.

    Both are migrated first, so their tables and columns match. Running jobs (the bot must be
    stopped) go back to the queue without a lease. Identity sequences continue past the copied
    ids. Raises TargetNotEmpty when PostgreSQL holds any row, DatabaseUnavailable when it
    cannot be reached.
    """
    source, target = Database(path), Database(path, url)
    await source.open()
    try:
        await target.open()
        try:
            return await _copy(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(source: Database, target: Database) -> dict[str, int]:
    rows = await source.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    )
    tables = [str(r[0]) for r in rows if str(r[0]) not in SKIPPED]
    copied: dict[str, int] = {}
    async with target.transaction() as tx:
        for table in tables:
            if await tx.fetchone(f"SELECT 1 FROM {table} LIMIT 1") is not None:
                raise TargetNotEmpty(f"table {table} already holds rows")
        for table in tables:
            copied[table] = await _copy_table(source, tx, table)
        await _requeue_running(tx)
        await _advance_identities(tx)
    return copied


async def _copy_table(source: Database, tx: Tx, table: str) -> int:
    rows = await source.fetchall(f"SELECT * FROM {table}")
    for row in rows:
        names = row.keys()
        columns = ", ".join(names)
        marks = ", ".join(f":{name}" for name in names)
        values = {name: row[name] for name in names}
        await tx.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    return len(rows)


async def _requeue_running(tx: Tx) -> None:
    """Leases taken on SQLite name a process that has stopped: the jobs are anyone's."""
    await tx.execute(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL"
        " WHERE status IN ('new', 'running')"
    )


async def _advance_identities(tx: Tx) -> None:
    """Each identity column's next value comes after the largest id copied."""
    columns = await tx.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in ((str(c[0]), str(c[1])) for c in columns):
        await tx.fetchone(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
            f" COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
        )
