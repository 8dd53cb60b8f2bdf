"""Cutting long audio at silences into FLAC chunks, in one streaming pass.

Blocking (it decodes and encodes): call it with asyncio.to_thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np

from bot.domain.transcript import Segment, Transcript
from bot.transcription.audio import AudioError, decode_mono

# Chunking: audio is analysed and cut at 16 kHz mono, what Voxtral listens at.
_CHUNK_RATE = 16000
_FRAME = _CHUNK_RATE // 50  # 20 ms energy frames
_QUIET_FRAMES = 15  # a "stretch" is 300 ms: long enough that a dip inside a word does not count
LONGEST_SEARCH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a long audio: its file, and where it starts in the whole (seconds)."""

    index: int
    path: Path
    start: float
    duration: float


def search_window(max_seconds: float) -> float:
    """How far before the limit a cut may fall: 30 s, or a quarter of a short limit."""
    return min(LONGEST_SEARCH_SECONDS, max_seconds / 4)


def quietest_point(samples: np.ndarray) -> int:
    """The sample index in the middle of the quietest stretch of `samples`.

    Energy is taken per 20 ms frame and averaged over 300 ms; among the frames whose average is
    within a hair of the minimum, the longest run wins and the cut falls at its centre, so a
    pause is cut in its middle rather than at an edge next to speech.
    """
    n_frames = len(samples) // _FRAME
    if n_frames <= _QUIET_FRAMES:
        return len(samples) // 2
    # A view and one pass (no float64 copy, no squared copy): the window may be 2 MB.
    frames = samples[: n_frames * _FRAME].reshape(n_frames, _FRAME)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / _FRAME
    smoothed = np.convolve(energy, np.ones(_QUIET_FRAMES) / _QUIET_FRAMES, mode="valid")
    floor = float(smoothed.min())
    quiet = smoothed <= floor * 1.5 + 1e-12
    best_start, best_len, run_start = 0, 0, -1
    for i, flag in enumerate(np.append(quiet, False)):
        if flag and run_start < 0:
            run_start = i
        elif not flag and run_start >= 0:
            if i - run_start > best_len:
                best_start, best_len = run_start, i - run_start
            run_start = -1
    # Window i covers frames i … i+14: the centre of the run of windows, shifted by half a window.
    centre_frame = best_start + best_len // 2 + _QUIET_FRAMES // 2
    return centre_frame * _FRAME + _FRAME // 2


class _ChunkWriter:
    """Writes 16 kHz mono float blocks into one FLAC file, counting its samples."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0
        self._closed = False
        self._out = av.open(str(path), "w", format="flac")
        self._stream = self._out.add_stream("flac", rate=_CHUNK_RATE)
        self._stream.layout = "mono"
        self._stream.format = "s16"

    def write(self, block: np.ndarray) -> None:
        if not len(block):
            return
        pcm = np.clip(block, -1.0, 1.0)
        pcm16 = np.ascontiguousarray((pcm * 32767.0).astype(np.int16)).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm16, format="s16", layout="mono")
        frame.sample_rate = _CHUNK_RATE
        self._out.mux(self._stream.encode(frame))
        self.samples += len(block)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._out.mux(self._stream.encode(None))
        finally:
            self._out.close()


def _rebuffer(blocks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The same samples in blocks of at least `size` (decoders hand out ~1000 at a time, and
    the per-block cost of encoding would dominate)."""
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        pending.append(block)
        count += len(block)
        if count >= size:
            yield np.concatenate(pending)
            pending, count = [], 0
    if pending:
        yield np.concatenate(pending)


def split_at_silences(
    src: Path,
    workdir: Path,
    max_seconds: float,
    *,
    cancelled: threading.Event | None = None,
    on_chunk: Callable[[Chunk], object] | None = None,
) -> list[Chunk]:
    """Cut the audio of src into FLAC chunks of at most max_seconds, each cut in the quietest
    stretch of the last `search_window` seconds before the limit.

    One streaming pass: samples up to the search window go straight into the current chunk's
    file; only the window itself (≤ 30 s, under 2 MB) is held in memory. `on_chunk` is called as
    each chunk is finished, so its transcription can start while the rest is still being cut;
    setting `cancelled` stops the work at the next block.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cutter = _Cutter(workdir, max_seconds, on_chunk)
    try:
        for block in _rebuffer(decode_mono(src, _CHUNK_RATE), _CHUNK_RATE):
            if cancelled is not None and cancelled.is_set():
                raise AudioError("cancelled")
            cutter.feed(block)
        cutter.end()
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"cannot cut the audio: {type(exc).__name__}") from exc
    finally:
        cutter.close()
    if not cutter.chunks:
        raise AudioError("no audio decoded")
    return cutter.chunks


class _Cutter:
    """The state of one cut: the chunk being written and the search window held in memory."""

    def __init__(
        self, workdir: Path, max_seconds: float, on_chunk: Callable[[Chunk], object] | None
    ) -> None:
        self.workdir = workdir
        self.on_chunk = on_chunk
        self.window = int(search_window(max_seconds) * _CHUNK_RATE)
        # Samples of a chunk written before any cut is possible.
        self.direct = int(max_seconds * _CHUNK_RATE) - self.window
        self.chunks: list[Chunk] = []
        self.start = 0  # sample where the current chunk starts
        self.writer: _ChunkWriter | None = None
        # The samples past `direct` in the current chunk, in one buffer allocated once.
        self.held = np.empty(self.window, dtype=np.float32)
        self.held_len = 0

    def _open_chunk(self) -> _ChunkWriter:
        return _ChunkWriter(self.workdir / f"chunk{len(self.chunks):04d}.flac")

    def _finish(self, w: _ChunkWriter) -> None:
        w.close()
        chunk = Chunk(len(self.chunks), w.path, self.start / _CHUNK_RATE, w.samples / _CHUNK_RATE)
        self.chunks.append(chunk)
        if self.on_chunk is not None:
            self.on_chunk(chunk)

    def feed(self, block: np.ndarray) -> None:
        window = self.window
        while len(block):
            if self.writer is None:
                self.writer = self._open_chunk()
            writer = self.writer
            room = self.direct - writer.samples
            if room > 0:
                writer.write(block[:room])
                block = block[room:]
                continue
            take = min(len(block), window - self.held_len)
            self.held[self.held_len : self.held_len + take] = block[:take]
            self.held_len += take
            block = block[take:]
            if self.held_len < window:
                continue
            cut = quietest_point(self.held)
            writer.write(self.held[:cut])
            self._finish(writer)
            self.start += writer.samples
            # The rest of the window opens the next chunk (it is shorter than `direct`).
            self.writer = self._open_chunk()
            self.writer.write(self.held[cut:])
            self.held_len = 0

    def end(self) -> None:
        """The audio is over: write what is held and finish the last chunk."""
        if self.held_len:
            if self.writer is None:
                self.writer = self._open_chunk()
            self.writer.write(self.held[: self.held_len])
        if self.writer is not None and self.writer.samples:
            self._finish(self.writer)
            self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def merge(parts: list[tuple[Chunk, Transcript]]) -> Transcript:
    """One transcript from the chunks' transcripts, in order, with times shifted to the whole.

    Without timestamps (a pinned language) each chunk's text is one segment at the chunk's start.
    """
    segments: list[Segment] = []
    for chunk, part in sorted(parts, key=lambda p: p[0].start):
        if part.timestamps:
            segments.extend(
                replace(s, start=s.start + chunk.start, end=s.end + chunk.start)
                for s in part.segments
            )
        elif part.text:
            segments.append(Segment(chunk.start, chunk.start + chunk.duration, part.text))
    languages = [p.language for _, p in parts if p.language]
    return Transcript(
        segments=tuple(segments),
        language=languages[0] if languages else None,
        billed_seconds=sum(p.billed_seconds for _, p in parts),
        timestamps=all(p.timestamps for _, p in parts),
    )
