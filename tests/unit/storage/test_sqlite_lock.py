"""SQLite used on the event loop's thread: another process's write lock is waited out between
tries, so the loop goes on serving everything else meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from storage import sqlite as sqlite_module
from storage import uploads
from storage.db import Database


def hold_write_lock(path: Path, held: threading.Event, release: threading.Event) -> None:
    """Another writer: BEGIN IMMEDIATE on its own connection until `release` is set."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_write_waits_for_another_writer_while_the_loop_runs(db: Database) -> None:
    held, release = threading.Event(), threading.Event()
    other = threading.Thread(target=hold_write_lock, args=(db.path, held, release))
    other.start()
    try:
        await asyncio.to_thread(held.wait, 10)
        write = asyncio.create_task(uploads.record_upload(db, "file-1", None))
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        release.set()
        await asyncio.wait_for(write, 10)
    finally:
        release.set()
        await asyncio.to_thread(other.join)
    assert await uploads.leftover_uploads(db) == ["file-1"]


async def test_a_lock_held_too_long_fails_the_write(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_SECONDS", 0.2)
    held, release = threading.Event(), threading.Event()
    other = threading.Thread(target=hold_write_lock, args=(db.path, held, release))
    other.start()
    try:
        await asyncio.to_thread(held.wait, 10)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await uploads.record_upload(db, "file-1", None)
    finally:
        release.set()
        await asyncio.to_thread(other.join)
    # The connection is not left inside a transaction: the next write goes through.
    await uploads.record_upload(db, "file-2", None)
    assert await uploads.leftover_uploads(db) == ["file-2"]
