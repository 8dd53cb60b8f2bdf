"""SQLite beside the database seam (storage/db.py): waiting out another process's write lock,
the checkpoint that empties the write-ahead log, and SQL with PostgreSQL's row locks dropped."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BUSY_SECONDS = 10.0
"""How long a SQLite statement waits for another process's write lock before failing."""
_BUSY_NAP = 0.005


async def busy(statement: Callable[[], T]) -> T:
    """Run `statement`, again and again while another process holds the lock SQLite needs, with
    naps between tries that double up to 0.1 s, for at most BUSY_SECONDS."""
    nap = _BUSY_NAP
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(nap)
        nap = min(nap * 2, 0.1)


def wal_checkpoint(path: Path) -> None:
    """Copy the write-ahead log into the database file and empty it (blocking)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


_ROW_LOCK = re.compile(r"\s+FOR\s+UPDATE(\s+OF\s+\w+)?(\s+SKIP\s+LOCKED)?", re.IGNORECASE)


@lru_cache(maxsize=512)
def for_sqlite(sql: str) -> str:
    """Row locks dropped: SQLite's one writer at a time already holds every row."""
    return _ROW_LOCK.sub("", sql)
