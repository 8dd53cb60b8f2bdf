"""The transcript as the rest of the bot sees it: segments with times, whatever Mistral said."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Notice(StrEnum):
    """Something the reader of a transcript should know about how it was made."""

    SPEAKERS_PER_PART = "speakers_per_part"
    """Long audio went to Mistral in parts, and each part numbers its speakers anew."""
    SPEAKERS_NEED_AUTO_LANGUAGE = "speakers_need_auto_language"
    """Speaker labels were asked for, but a pinned language rules them out."""
    VOCABULARY_NOT_APPLIED = "vocabulary_not_applied"
    """The model refused the vocabulary: the note was transcribed without it."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of speech: seconds from the start of the audio, and its text."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    """Who spoke, as diarization named them (e.g. "speaker_1"; "1", "2"… once numbered by
    number_speakers); None without diarization."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole transcript: segments in order, the detected language, the seconds Mistral billed."""

    segments: tuple[Segment, ...]
    language: str | None = None
    billed_seconds: int = 0
    timestamps: bool = True
    """False when a language was pinned: segment starts are then chunk starts, not speech starts."""
    notices: tuple[Notice, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def is_blank(self) -> bool:
        """True when no segment holds a letter or a digit: nothing was heard."""
        return not any(ch.isalnum() for seg in self.segments for ch in seg.text)


def number_speakers(transcript: Transcript) -> Transcript:
    """The transcript with Mistral's speaker ids replaced by "1", "2"… in order of first
    appearance (Mistral's ids are per request and need not be numbers)."""
    numbers: dict[str, str] = {}
    segments = []
    for segment in transcript.segments:
        if segment.speaker is not None:
            number = numbers.setdefault(segment.speaker, str(len(numbers) + 1))
            segment = replace(segment, speaker=number)
        segments.append(segment)
    return replace(transcript, segments=tuple(segments))


def with_notice(transcript: Transcript, notice: Notice) -> Transcript:
    """The transcript with `notice` added (once)."""
    if notice in transcript.notices:
        return transcript
    return replace(transcript, notices=(*transcript.notices, notice))
