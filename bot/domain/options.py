"""Recognition options as one stable string: what a kept transcript must match to be reused."""

from __future__ import annotations


def recognition_options(*, language: str | None) -> str:
    """The options a note is transcribed with, as a key: equal strings, equal transcripts.

    Every option that changes what Mistral returns belongs here, in a fixed order."""
    return f"language={language or 'auto'}"
