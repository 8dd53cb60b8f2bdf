"""Logging set-up that keeps secrets out of every log line, whoever writes it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Bot tokens look like "123456789:AA…" and sit in every Bot API URL (httpx logs URLs at INFO).
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
# Signed URLs (and any URL's query string) may carry credentials: keep the path, drop the query.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"']+)\?[^\s\"']*")
_REDACTED = "[REDACTED]"

_installed_secrets: list[str] = []


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with tokens, keys and URL query strings replaced."""
    for secret in (*secrets, *_installed_secrets):
        if secret:
            text = text.replace(secret, _REDACTED)
    text = _TOKEN.sub(_REDACTED, text)
    return _URL_QUERY.sub(rf"\1?{_REDACTED}", text)


def _install_record_factory() -> None:
    """Redact at record creation, so every handler (caplog included) sees clean text."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_voxgram_redacting", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks of HTTP errors quote URLs: format them now, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    factory._voxgram_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at `level`; libraries that print URLs stay at WARNING."""
    add_secrets(secrets)
    _install_record_factory()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("bot").setLevel(level)
    logging.getLogger("handlers").setLevel(level)
    logging.getLogger("storage").setLevel(level)
    # psycopg's pool logs three INFO records for every connection it lends.
    for noisy in ("httpx", "httpcore", "aiohttp", "telegram", "apscheduler", "psycopg", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_secrets(secrets: Iterable[str]) -> None:
    """Remember exact secret strings so they are redacted wherever they appear."""
    _install_record_factory()
    for secret in secrets:
        if secret and secret not in _installed_secrets:
            _installed_secrets.append(secret)
