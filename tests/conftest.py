"""Shared fixtures: the fake Bot API and Mistral servers, settings pointing at them, the bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import Tuning, Voxgram
from bot.jobs.delivering import DeliveryRetry
from bot.settings import Settings
from bot.transcription.mistral import RetryPolicy
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db
from tests.postgres import DEBIAN_BINARIES, PostgresServer, find_binaries

# Short waits so retry paths run in tests in well under a second; behaviour is unchanged.
FAST = Tuning(
    mistral_retry=RetryPolicy(attempts=4, initial=0.05, max_wait=5.0),
    download_backoff=0.05,
    progress_every=0.0,
    group_rate=(1, 0.01),
    delivery_retry=DeliveryRetry(initial=0.05, max_wait=1.0),
)

ADMIN_ID = 1000


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def mistral() -> AsyncIterator[FakeMistral]:
    async with FakeMistral() as fake:
        yield fake


BINARIES = find_binaries()
NO_POSTGRES = (
    f"no PostgreSQL server binaries ({DEBIAN_BINARIES} or pg_ctl on the PATH):"
    " PostgreSQL tests skipped, SQLite only"
)


def pytest_report_header() -> str:
    return f"postgresql: {BINARIES}" if BINARIES else NO_POSTGRES


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the whole run, stopped and removed at the end."""
    if BINARIES is None:
        if os.environ.get("CI"):
            pytest.fail(NO_POSTGRES.split(":")[0] + ": CI runs every test on both databases")
        pytest.skip(NO_POSTGRES)
    server = PostgresServer(BINARIES)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite", or each of both in a module marked with tests.postgres.both_backends."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Db]:
    """The test's own database: a SQLite file, or a fresh PostgreSQL database (and then no
    SQLite file may appear at DATABASE_PATH)."""
    path = tmp_path / "data" / "voxgram.sqlite3"
    if backend == "sqlite":
        yield Db(path)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield Db(path, server.create_database())
    assert not path.exists(), "a SQLite file was written while the bot used PostgreSQL"


@pytest.fixture
def db_path(database: Db) -> Path:
    return database.path


@pytest.fixture
def make_settings(tg: FakeTelegram, mistral: FakeMistral, database: Db) -> Callable[..., Settings]:
    """Settings as an operator would write them, aimed at the fakes; overrides by name.

    LIVE_TRANSCRIPTS is off unless a test asks: most tests follow the status message being
    edited into the transcript; tests/test_live.py turns it on."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "MISTRAL_API_KEY": mistral.api_key,
            "TELEGRAM_API_URL": tg.api_url,
            "MISTRAL_API_URL": mistral.base_url,
            **database.env(),
            "ADMIN_IDS": str(ADMIN_ID),
            "SHUTDOWN_GRACE_SECONDS": 5,
            "LIVE_TRANSCRIPTS": False,
        }
        values.update({k: str(v) if isinstance(v, int | bool) else v for k, v in overrides.items()})
        return Settings(_env_file=None, **values)

    return make


RunBot = Callable[..., AbstractAsyncContextManager[Voxgram]]


@pytest.fixture
def run_bot(make_settings: Callable[..., Settings]) -> RunBot:
    """`async with run_bot(SETTING=value) as vox:` runs the real bot against the fakes."""

    @asynccontextmanager
    async def run(tuning: Tuning = FAST, **overrides: Any) -> AsyncIterator[Voxgram]:
        vox = Voxgram(make_settings(**overrides), tuning)
        async with vox.running():
            yield vox

    return run
