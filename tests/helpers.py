"""Small readers over the fakes' state, shared by the bot's tests."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bot.i18n import UI_LANGUAGES, texts
from bot.telegram.render import format_timestamp
from storage.db import Database
from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import BotMessage, FakeTelegram


def expected_lines(words: list[media.Word], vocabulary: list[str]) -> list[str]:
    """The transcript lines a user should see for a tone-word script."""
    return [f"{format_timestamp(w.start)} {vocabulary[w.index]}" for w in words]


STATUS_TEXTS = tuple(texts.of(language)(texts.STATUS) for language in UI_LANGUAGES)
"""The status message ("Transcribing…") in every language of the bot; progress edits start so."""


def transcript_of(tg: FakeTelegram, chat_id: int, message_id: int) -> list[BotMessage] | None:
    """The bot's replies to a note, once the first is the result: its status message edited into
    it, or, where the status message was never sent (withdrawn by the pacing when the result came
    first), a new reply."""
    replies = tg.replies_to(chat_id, message_id)
    if replies and not (replies[0].text or "").startswith(STATUS_TEXTS):
        return replies
    return None


def transcript_parts(tg: FakeTelegram, chat_id: int, message_id: int) -> list[BotMessage] | None:
    """The messages of a note's transcript so far: the status message edited into the first
    part, then the continuations, which reply to it."""
    replies = transcript_of(tg, chat_id, message_id)
    if replies is None:
        return None
    return [replies[0], *tg.replies_to(chat_id, replies[0].message_id)]


def transcript_lines(
    tg: FakeTelegram, chat_id: int, message_id: int, *, at_least: int
) -> list[str] | None:
    """Every line of a note's transcript, once at least `at_least` of them have arrived."""
    parts = transcript_parts(tg, chat_id, message_id) or []
    lines = [line for part in parts for line in (part.text or "").splitlines()]
    return lines if parts and len(lines) >= at_least else None


def answer_to(tg: FakeTelegram, chat_id: int, message_id: int) -> BotMessage | None:
    """The bot's first message after a user's message (private answers need not quote)."""
    later = [m for m in tg.bot_messages(chat_id) if m.message_id > message_id]
    return later[0] if later else None


@dataclass(frozen=True)
class Db:
    """The database a test's bot uses: SQLite at `path`, or PostgreSQL at `url` when set
    (nothing is written at `path` then)."""

    path: Path
    url: str = ""

    @property
    def backend(self) -> str:
        return "postgres" if self.url else "sqlite"

    def env(self) -> dict[str, str]:
        """The settings that point the bot at this database."""
        return {"DATABASE_PATH": str(self.path), "DATABASE_URL": self.url}

    def open(self) -> Database:
        """The storage layer's handle on it, not yet opened."""
        return Database(self.path, self.url)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one query (`?` marks), run and committed in a connection of its own."""
        if self.url:
            with psycopg.connect(self.url, autocommit=True) as pg:
                cursor = pg.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        with closing(sqlite3.connect(self.path)) as conn, conn:
            return conn.execute(sql, params).fetchall()


def as_db(db: Db | Path) -> Db:
    return db if isinstance(db, Db) else Db(db)


def usage_row(db: Db | Path, user_id: int) -> tuple[int, int]:
    """(used, reserved) seconds of a user summed over periods."""
    ((used, reserved),) = as_db(db).rows(
        "SELECT COALESCE(SUM(used_seconds), 0), COALESCE(SUM(reserved_seconds), 0)"
        " FROM usage WHERE user_id = ?",
        (user_id,),
    )
    return int(used), int(reserved)


def job_statuses(db: Db | Path) -> list[str]:
    return [r[0] for r in as_db(db).rows("SELECT status FROM jobs ORDER BY id")]


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any setting of ours, plus `values`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "MISTRAL_", "DATABASE_"))
    }
    env.update(values)
    return env


def bot_env(tg: FakeTelegram, mistral: FakeMistral, db: Db | Path, **values: str) -> dict[str, str]:
    """The environment an operator would give `python -m bot`, aimed at the fakes."""
    return clean_env(
        TELEGRAM_BOT_TOKEN=tg.token,
        MISTRAL_API_KEY=mistral.api_key,
        TELEGRAM_API_URL=tg.api_url,
        MISTRAL_API_URL=mistral.base_url,
        **as_db(db).env(),
        **{"LIVE_TRANSCRIPTS": "false", **values},
    )


class Clock:
    """A wall clock the test moves by hand (Tuning.clock): retention without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def database_bytes(db_path: Path) -> bytes:
    """Everything SQLite has on disk for the database: the file, its WAL and shared memory."""
    parts = [
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ]
    return b"".join(p.read_bytes() for p in parts if p.exists())


@asynccontextmanager
async def bot_process(
    env: dict[str, str], cwd: Path, *, stderr: int = asyncio.subprocess.DEVNULL
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot` started as an operator would; killed on the way out if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=cwd, stderr=stderr
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
