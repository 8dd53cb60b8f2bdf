"""Logs never hold the token, the API key, a signed URL or transcript text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, redact
from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, transcript_of


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """Production logging set-up, then bot loggers at DEBUG and libraries at INFO into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    names = ["bot", "handlers", "storage", "httpx", "httpcore", "telegram", "psycopg"]
    saved_levels = {name: logging.getLogger(name).level for name in names}
    configure_logging("DEBUG", [])
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    for name in ("bot", "handlers", "storage"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in ("httpx", "telegram"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_logs_hold_no_secret_and_no_transcript(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, captured_log: io.StringIO
) -> None:
    mistral.vocabulary = [f"secretword{k}xyz" for k in range(100)]
    data, words, total = media.voice_note(3)
    oli = tg.user(800, "Oli")
    chat = tg.private_chat(oli)
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    async with run_bot():
        note = tg.send_voice(chat, oli, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        # A failing request too: error paths log more.
        mistral.fail_transcriptions(500, times=1)
        again = tg.send_voice(chat, oli, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], again["message_id"]))
        cmd = tg.send_text(admin_chat, admin, "/stats")
        await tg.wait_for(lambda: answer_to(tg, admin_chat["id"], cmd["message_id"]))
    text = captured_log.getvalue()
    # The run did log, libraries included: the check below is not vacuous.
    assert "bot.jobs.processor" in text
    assert "HTTP Request" in text
    assert tg.token not in text
    assert tg.token.split(":", 1)[1] not in text
    assert mistral.api_key not in text
    assert mistral.signed_urls
    for url in mistral.signed_urls:
        assert url not in text
        assert url.split("?", 1)[1] not in text
    for word in words:
        assert mistral.vocabulary[word.index] not in text


def test_redact_covers_tokens_keys_and_query_strings() -> None:
    line = (
        "GET https://api.telegram.org/bot123456789:AAHabcdefghijklmnopqrstuvwxyz012/getMe "
        "and https://files.example/blob/x.ogg?se=2026&sig=SECRET key=sk-live-1"
    )
    clean = redact(line, ["sk-live-1"])
    assert "AAHabcdefghijklmnopqrstuvwxyz012" not in clean
    assert "SECRET" not in clean
    assert "sk-live-1" not in clean
    assert "https://files.example/blob/x.ogg?" in clean


def test_the_database_password_is_kept_out_of_every_log_record(
    captured_log: io.StringIO,
) -> None:
    """The password in DATABASE_URL is one of the secrets the start hands the log filter."""
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,
        TELEGRAM_BOT_TOKEN="123456:ABCdefGhIJKlmnopqrstuvwxyz0123456789",
        MISTRAL_API_KEY="mistral-key",
        DATABASE_URL="postgresql://voxgram:Hunter2Secret@db.example:5432/voxgram",
    )
    configure_logging("INFO", [settings.database_password()])
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logging.getLogger().addHandler(handler)
    try:
        logging.getLogger("psycopg.pool").warning(
            "connection to %s failed", settings.DATABASE_URL.get_secret_value()
        )
    finally:
        logging.getLogger().removeHandler(handler)
    assert "connection to postgresql://voxgram:" in buffer.getvalue()
    assert "Hunter2Secret" not in buffer.getvalue()


def test_the_pools_records_for_each_connection_lent_stay_out_of_the_log(
    captured_log: io.StringIO,
) -> None:
    """psycopg's pool logs three INFO records per connection it lends; its warnings stay."""
    logging.getLogger("psycopg").setLevel(logging.NOTSET)  # as in a fresh process
    configure_logging("INFO", [])
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logging.getLogger().addHandler(handler)
    try:
        pool = logging.getLogger("psycopg.pool")
        pool.info("connection given by %r", "pool-1")
        pool.warning("discarding closed connection: %s", "conn-1")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "connection given by" not in buffer.getvalue()
    assert "discarding closed connection: conn-1" in buffer.getvalue()
