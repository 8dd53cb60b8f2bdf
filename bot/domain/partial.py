"""A transcript in the making: the lines streamed so far of chunks transcribed in parallel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.domain.transcript import Segment, Transcript


class PartialTranscript:
    """What can be shown of a transcript while its chunks stream in parallel: the complete
    chunks in order, then the streamed lines of the first chunk not yet complete. Lines of a
    later chunk wait until every chunk before it is complete, so the shown text only grows.

    `changed` is called with the transcript so far each time what is shown grows.
    """

    def __init__(self, changed: Callable[[Transcript], None]) -> None:
        self._changed = changed
        self._streamed: dict[int, list[Segment]] = {}
        """Segments of each chunk as they streamed in, already on the whole audio's times."""
        self._complete: dict[int, tuple[Segment, ...]] = {}
        """The final segments of each complete chunk, on the whole audio's times."""

    def segment(self, chunk: int, offset: float, segment: Segment) -> None:
        """A segment of chunk number `chunk` (from 0), which starts `offset` seconds in."""
        if chunk in self._complete:
            return
        shifted = replace(segment, start=segment.start + offset, end=segment.end + offset)
        self._streamed.setdefault(chunk, []).append(shifted)
        if chunk == self._first_incomplete():
            self._changed(self.so_far())

    def complete(self, chunk: int, part: Transcript) -> None:
        """Chunk number `chunk` is transcribed: `part` is its final transcript, on the whole
        audio's times (it replaces what streamed, e.g. after a stream that broke)."""
        visible = chunk <= self._first_incomplete()
        self._complete[chunk] = part.segments
        self._streamed.pop(chunk, None)
        if visible:
            self._changed(self.so_far())

    def so_far(self) -> Transcript:
        """The lines that may be shown now, in order."""
        segments: list[Segment] = []
        chunk = 0
        while chunk in self._complete:
            segments.extend(self._complete[chunk])
            chunk += 1
        segments.extend(self._streamed.get(chunk, ()))
        return Transcript(segments=tuple(segments))

    def _first_incomplete(self) -> int:
        chunk = 0
        while chunk in self._complete:
            chunk += 1
        return chunk
