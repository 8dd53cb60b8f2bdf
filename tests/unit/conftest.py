"""Unit-test fixtures: a real SQLite database in a temporary directory, nothing else running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of the bot's own schema."""
    database = Database(tmp_path / "voxgram.sqlite3")
    await database.open()
    try:
        yield database
    finally:
        await database.close()
