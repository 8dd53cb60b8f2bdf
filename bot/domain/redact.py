"""Secrets out of what is shown: a URL without its password."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "the database URL"
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
