"""Shared fixtures: the fake Bot API and Mistral servers, settings pointing at them, the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "voxgram.sqlite3"


@pytest.fixture
def make_settings(tg: FakeTelegram, mistral: FakeMistral, db_path: Path) -> Callable[..., Settings]:
    """Settings as an operator would write them, aimed at the fakes; overrides by name.

    LIVE_TRANSCRIPTS is off unless a test asks: most tests follow the status message being
    edited into the transcript; tests/test_live.py turns it on."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "TELEGRAM_BOT_TOKEN": tg.token,
            "MISTRAL_API_KEY": mistral.api_key,
            "TELEGRAM_API_URL": tg.api_url,
            "MISTRAL_API_URL": mistral.base_url,
            "DATABASE_PATH": str(db_path),
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
