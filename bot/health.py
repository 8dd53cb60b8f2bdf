"""Liveness for `voxgram health`: the running bot leaves a heartbeat, the check reads it.

The heartbeat is a file next to the database (`voxgram.sqlite3.heartbeat`) whose modification
time the bot renews whenever Telegram answered it: at start (getMe), after every successful
getUpdates, for every update a webhook delivers, and, in webhook mode, after every
getWebhookInfo it makes each POLL_TIMEOUT seconds so that a quiet bot stays healthy. A file
rather than a table: no write transaction every few seconds, and no schema change.

`voxgram health` exits 0 when the database opens (SQLite read-only; PostgreSQL, with
DATABASE_URL set, a connection reading the schema version) and the heartbeat is at most MAX_AGE
seconds old: three long polls, so one slow or failed poll is not an alarm. Under PostgreSQL the
heartbeat file is still kept beside DATABASE_PATH, which each replica keeps on its own.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10
"""Seconds a getUpdates long poll waits for updates: an idle bot beats at least this often."""
MAX_AGE = 3 * POLL_TIMEOUT


def heartbeat_path(database: Path) -> Path:
    return database.with_name(database.name + ".heartbeat")


class Heartbeat:
    """The bot's side: `beat()` whenever Telegram answered."""

    def __init__(self, database: Path) -> None:
        self.path = heartbeat_path(database)

    def beat(self) -> None:
        # Touching renews the modification time atomically, in microseconds.
        try:
            self.path.touch()
        except OSError as exc:
            # Never let the heartbeat break a poll: the stale file will tell the check.
            log.warning("heartbeat not written: %s", exc.strerror)


def check(database: Path, max_age: float = MAX_AGE, url: str = "") -> tuple[bool, str]:
    """(healthy, one line saying why) for the bot using `database`, or PostgreSQL at `url`."""
    problem = _postgres_problem(url) if url else _sqlite_problem(database)
    if problem:
        return False, problem
    try:
        age = time.time() - heartbeat_path(database).stat().st_mtime
    except FileNotFoundError:
        return False, "the bot has not reached Telegram yet"
    if age > max_age:
        return False, f"last answer from Telegram {age:.0f} s ago (more than {max_age:g} s)"
    return True, f"ok: last answer from Telegram {max(age, 0):.0f} s ago"


def _sqlite_problem(database: Path) -> str:
    """Why the SQLite database does not open read-only; "" when it does."""
    if not database.is_file():
        return f"no database at {database}"
    try:
        # Read-only: a check must never create, migrate or lock the bot's database.
        uri = database.resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.Error as exc:
        return f"database does not open: {exc}"
    return ""


def _postgres_problem(url: str) -> str:
    """Why PostgreSQL does not answer with a schema; "" when it does. The driver is imported
    only here: the check stays light under SQLite."""
    import psycopg

    from bot.domain.redact import redact_url

    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT version FROM schema_version").fetchone()
    except psycopg.Error as exc:
        reason = type(exc).__name__
        return f"database {redact_url(url)} does not answer: {reason}"
    return ""
