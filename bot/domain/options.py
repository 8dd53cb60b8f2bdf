"""How a note is to be transcribed, read once at admission: language, speakers, vocabulary.

`TranscriptionOptions.key()` is the one stable string that names these options (for storage
and for reusing a transcript made with the same ones); the vocabulary rules live here too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

MAX_TERMS = 100
"""Terms per list: Mistral takes at most 100 `context_bias` items."""
MAX_TERM_LENGTH = 50
"""Characters per term: names and jargon, not sentences."""


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """The options of one note: a pinned language (None: detected), speaker labels, and the
    names and terms Mistral is biased towards (each already a valid `context_bias` item)."""

    language: str | None = None
    speakers: bool = False
    vocabulary: tuple[str, ...] = ()

    @property
    def diarize(self) -> bool:
        """Whether Mistral is asked who speaks: diarization needs segment timestamps, which the
        API does not give with a pinned language, so a pinned language turns it off."""
        return self.speakers and self.language is None

    def key(self) -> str:
        """A stable string naming these options: equal options, equal keys, across versions."""
        terms = sorted({term.casefold() for term in self.vocabulary})
        vocabulary = hashlib.sha256("\n".join(terms).encode()).hexdigest()[:16] if terms else "none"
        return (
            f"v1;language={self.language or 'auto'};speakers={int(self.speakers)};"
            f"vocabulary={vocabulary}"
        )


class TermProblem(StrEnum):
    """Why a term cannot be sent as a `context_bias` item."""

    SEPARATOR = "separator"
    """It holds a comma (spaces split terms; multi-word terms are joined with `_`)."""
    TOO_LONG = "too_long"
    UNPRINTABLE = "unprintable"


def term_problem(term: str) -> TermProblem | None:
    """What keeps `term` (one whitespace-free word as typed) from being sent; None if nothing."""
    if any(ch == "," or ch.isspace() for ch in term):
        return TermProblem.SEPARATOR
    if not term.isprintable():
        return TermProblem.UNPRINTABLE
    if len(term) > MAX_TERM_LENGTH:
        return TermProblem.TOO_LONG
    return None


def new_terms(existing: tuple[str, ...] | list[str], given: list[str]) -> list[str]:
    """The given terms not yet in the list (compared case-insensitively), in order, once each."""
    seen = {term.casefold() for term in existing}
    fresh: list[str] = []
    for term in given:
        if term.casefold() not in seen:
            seen.add(term.casefold())
            fresh.append(term)
    return fresh
