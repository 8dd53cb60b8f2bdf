"""PartialTranscript: what may be shown while chunks stream in parallel."""

from __future__ import annotations

from bot.domain.partial import PartialTranscript
from bot.domain.transcript import Segment, Transcript


def texts(transcript: Transcript) -> list[tuple[float, str]]:
    return [(s.start, s.text) for s in transcript.segments]


def test_later_chunks_wait_for_the_ones_before_and_times_are_shifted() -> None:
    shown: list[Transcript] = []
    partial = PartialTranscript(shown.append)
    partial.segment(1, 30.0, Segment(1.0, 2.0, "b1"))  # chunk 1 is ahead of chunk 0
    assert shown == []
    partial.segment(0, 0.0, Segment(0.5, 1.0, "a1"))
    assert texts(shown[-1]) == [(0.5, "a1")]
    partial.complete(1, Transcript((Segment(31.0, 32.0, "b1"), Segment(35.0, 36.0, "b2"))))
    assert len(shown) == 1  # chunk 1 is done, but chunk 0 is not
    partial.complete(0, Transcript((Segment(0.5, 1.0, "a1"), Segment(4.0, 5.0, "a2"))))
    assert texts(shown[-1]) == [(0.5, "a1"), (4.0, "a2"), (31.0, "b1"), (35.0, "b2")]
    partial.segment(2, 60.0, Segment(0.0, 1.0, "c1"))
    assert texts(shown[-1])[-1] == (60.0, "c1")


def test_a_complete_chunk_replaces_what_streamed() -> None:
    shown: list[Transcript] = []
    partial = PartialTranscript(shown.append)
    partial.segment(0, 0.0, Segment(0.0, 1.0, "half"))
    partial.complete(0, Transcript((Segment(0.0, 1.0, "whole"),)))
    partial.segment(0, 0.0, Segment(2.0, 3.0, "late"))  # a stream after the end is ignored
    assert texts(partial.so_far()) == [(0.0, "whole")]
    assert len(shown) == 2
