"""The transcript as the rest of the bot sees it: segments with times, whatever Mistral said."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of speech: seconds from the start of the audio, and its text."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    """Who spoke, as diarization named them (e.g. "speaker_1"); None without diarization."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole transcript: segments in order, the detected language, the seconds Mistral billed."""

    segments: tuple[Segment, ...]
    language: str | None = None
    billed_seconds: int = 0
    timestamps: bool = True
    """False when a language was pinned: segment starts are then chunk starts, not speech starts."""

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def is_blank(self) -> bool:
        """True when no segment holds a letter or a digit: nothing was heard."""
        return not any(ch.isalnum() for seg in self.segments for ch in seg.text)
