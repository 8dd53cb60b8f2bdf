"""PyAV helpers: probe a media file, take its audio track, decode it for silence detection.

All functions block (they read files and decode); call them with asyncio.to_thread. None of them
loads a whole file into memory: PyAV demuxes and decodes packet by packet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import numpy as np
from av.audio.stream import AudioStream

log = logging.getLogger(__name__)

DEMUXERS = (
    "ogg",
    "matroska,webm",
    "mov,mp4,m4a,3gp,3g2,mj2",
    "mp3",
    "wav",
    "flac",
    "aac",
    "amr",
    "amrnb",
    "amrwb",
    "asf",
    "caf",
    "aiff",
)
"""FFmpeg's demuxers a file may be read with: those of the containers the bot takes audio in.

FFmpeg picks the demuxer from the content, not the name: without this list a file called x.mp3
holding a concat list or an HLS playlist would be read as one and open the files it names. None
of these demuxers opens another file, and only the `file` protocol is allowed, so what is read is
the bytes of the one file given and nothing else."""

_OPEN_OPTIONS = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "file"}

# Containers (PyAV's demuxer names) whose audio goes to Mistral as it is, with the codecs trusted
# in each: ogg/opus (voice notes), mp3, m4a, wav, flac, webm. Others are remuxed or re-encoded.
_ACCEPTED: dict[str, frozenset[str]] = {
    "ogg": frozenset({"opus", "vorbis", "flac"}),
    "mp3": frozenset({"mp3"}),
    "mov,mp4,m4a,3gp,3g2,mj2": frozenset({"aac"}),
    "wav": frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8"}),
    "flac": frozenset({"flac"}),
    "matroska,webm": frozenset({"opus", "vorbis"}),
}

# Codec → (muxer, file suffix) to copy an audio track into, packets untouched.
_COPY_TARGETS: dict[str, tuple[str, str]] = {
    "aac": ("ipod", ".m4a"),
    "mp3": ("mp3", ".mp3"),
    "opus": ("ogg", ".ogg"),
    "vorbis": ("ogg", ".ogg"),
    "flac": ("flac", ".flac"),
    "pcm_s16le": ("wav", ".wav"),
}

# Re-encoded audio: Voxtral listens at 16 kHz mono anyway, and at this rate even 3 h of audio
# (345 MB as raw PCM, less as FLAC) stays under the 512 MB upload limit.
_REENCODE_RATE = 16000


class AudioError(Exception):
    """The file holds no audio we can read."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What probe() found: the audio's real duration in seconds and how it is stored."""

    duration: float
    codec: str
    has_video: bool
    container: str
    sample_rate: int
    channels: int
    sendable: bool = False
    """Only audio, in a container and codec Mistral takes: sent as it is, no copy needed."""


def _open(path: Path, *, timeout: float | None = None) -> av.container.InputContainer:
    """Open `path` as a plain file with one of DEMUXERS; `timeout` bounds the wall time of opening
    and of the stream analysis that follows."""
    try:
        # The "file:" prefix keeps a colon in the path from being read as another protocol.
        container = av.open(
            f"file:{path}", "r", container_options=_OPEN_OPTIONS, timeout=(timeout, None)
        )
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise AudioError(f"cannot open {path.name}: {type(exc).__name__}") from exc
    if container.format.name not in DEMUXERS:
        container.close()
        raise AudioError(f"cannot open {path.name}: format {container.format.name}")
    return container


def _audio_stream(container: av.container.InputContainer) -> AudioStream:
    # A stream of a codec FFmpeg does not know has no codec context: it cannot be decoded.
    streams = [s for s in container.streams.audio if s.codec_context is not None]
    if not streams:
        raise AudioError("no audio stream")
    try:
        stream = container.streams.best("audio")
    except (av.FFmpegError, ValueError):
        stream = None
    return stream if isinstance(stream, AudioStream) and stream in streams else streams[0]


def _is_picture(stream: av.stream.Stream) -> bool:
    """True for cover art: a video stream holding one still image (mp3/m4a album art)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _has_video(container: av.container.InputContainer) -> bool:
    return any(not _is_picture(s) for s in container.streams.video)


def _codec_name(stream: AudioStream) -> str:
    # canonical_name is the codec's id ("mp3"), not the decoder's name ("mp3float").
    return stream.codec_context.codec.canonical_name


# How many audio packets may fail or yield nothing before the file counts as holding no audio:
# decoders with a delay (AAC) need a few packets before the first frame.
_DECODE_PROBE_PACKETS = 32

PROBE_BASE_SECONDS = 1.0
"""CPU seconds any probe may take, whatever the file's size (a small file takes milliseconds)."""
PROBE_SECONDS_PER_MB = 2.0
"""CPU seconds a probe may take for each megabyte of file on top of PROBE_BASE_SECONDS. The
costliest audio a megabyte takes about 0.75 s (AMR-NB at 4.75 kbit/s, decoded in full; 3-byte
Opus packets, counted from their headers, 0.7 s); AAC and MP3 take 0.05 to 0.1 s, FLAC 0.01 s."""
PROBE_MAX_SECONDS = 60.0
"""CPU seconds no probe may exceed, however big the file (3 h of FLAC, the costliest an hour,
takes about 5 s)."""
PROBE_WALL_FACTOR = 5.0
"""Wall time a probe may take, as a multiple of its CPU budget: room for a machine busy with
other work, not for a read that hangs."""
PROBE_PACKET_ALLOWANCE = 2000
"""Packets read before the two density bounds below apply: a few seconds of any codec."""
MAX_PACKETS_PER_SECOND = 500
"""Packets a second of counted audio: more are a flood of packets that decode to (almost)
nothing. The shortest frames real encoders make are Opus's 2.5 ms, 400 a second."""
MIN_MEAN_PACKET_BYTES = 3
"""The least mean payload of a stream's packets: every packet costs the probe a few microseconds
however small it is, and real encoders average tens of bytes (a silent Opus or AMR frame can be
one byte, amid speech, not a stream of millions of them)."""
_CHECK_EVERY = 64  # packets between two looks at the clocks and the density bounds

_OPUS_RATE = 48000  # Opus packets count samples at 48 kHz whatever the input rate was
# Samples of one frame for each of the 32 TOC configurations (RFC 6716 §3.1, Table 2).
_OPUS_FRAME = (480, 960, 1920, 2880) * 3 + (480, 960) * 2 + (120, 240, 480, 960) * 4
_OPUS_LONGEST_PACKET = 5760  # 120 ms: a packet claiming more is refused by the decoder


def probe_budget(size: int) -> float:
    """CPU seconds a probe of a file of `size` bytes may take before it gives up."""
    return min(PROBE_MAX_SECONDS, PROBE_BASE_SECONDS + PROBE_SECONDS_PER_MB * size / 1_000_000)


def opus_samples(packet: bytes) -> int:
    """Samples (at 48 kHz) an Opus packet decodes to at most, from its TOC byte and frame count.

    A decoder outputs exactly this for a valid packet (its delay only moves samples between
    packets, and a frame that fails to decode comes out as silence) and nothing for an invalid
    one. A packet whose frame count is invalid (none, or over 120 ms) counts 0; one invalid in a
    way only decoding shows counts in full, so the sum never falls short of the decoder's."""
    if not packet:
        return 0
    toc = packet[0]
    code = toc & 0x3
    if code >= 2 and len(packet) < 2:
        return 0
    frames = 1 if code == 0 else 2 if code < 3 else packet[1] & 0x3F
    samples = frames * _OPUS_FRAME[toc >> 3]
    return samples if 0 < samples <= _OPUS_LONGEST_PACKET else 0


class _Budget:
    """The CPU (this thread's) and wall time one probe may still spend."""

    def __init__(self, cpu_seconds: float) -> None:
        self.cpu_until = time.thread_time() + cpu_seconds
        self.wall_seconds = cpu_seconds * PROBE_WALL_FACTOR
        self.wall_until = time.monotonic() + self.wall_seconds

    def check(self) -> None:
        if time.thread_time() > self.cpu_until or time.monotonic() > self.wall_until:
            raise AudioError("unreadable audio: the probe ran out of time")


class _Count:
    """Decoded samples per sample rate, and the packets they came in."""

    def __init__(self) -> None:
        self.samples: dict[int, int] = {}
        self.packets = 0
        self.payload = 0

    def add(self, samples: int, rate: int) -> None:
        if rate <= 0:
            raise AudioError("decoded audio without a sample rate")
        self.samples[rate] = self.samples.get(rate, 0) + samples

    def seconds(self) -> float:
        return sum(n / rate for rate, n in self.samples.items())

    def check_density(self) -> None:
        """AudioError if the packets are too many for the audio they hold or too small."""
        if self.packets <= PROBE_PACKET_ALLOWANCE:
            return
        if self.packets > PROBE_PACKET_ALLOWANCE + MAX_PACKETS_PER_SECOND * self.seconds():
            raise AudioError("unreadable audio: packets that decode to nothing")
        if self.payload < MIN_MEAN_PACKET_BYTES * self.packets:
            raise AudioError("unreadable audio: a flood of empty packets")


def _decodes(stream: AudioStream, packet: av.Packet[AudioStream] | None) -> list[av.AudioFrame]:
    try:
        return stream.codec_context.decode(packet)
    except (av.FFmpegError, ValueError):
        return []


def probe(path: Path) -> AudioInfo:
    """The audio's real duration and format; AudioError if it has no decodable audio stream.

    The duration is that of the decoded audio: every packet is decoded and its samples counted,
    except Opus, whose packets state their sample count in their first bytes (opus_samples:
    counted without decoding, at a fifth of the cost).
    Container durations, timestamps and packet durations are the sender's word and are not read:
    a header claiming 0 s for an hour of audio must not slip past the quota, CHUNK_SECONDS or
    MAX_AUDIO_SECONDS. The reported duration is never below what a decoder outputs (Opus's
    pre-skip and end trimming are not subtracted: a few milliseconds more).

    The work is bounded: probe_budget(size) of CPU time (PROBE_WALL_FACTOR times that in wall
    time), MAX_PACKETS_PER_SECOND and MIN_MEAN_PACKET_BYTES; past any of them the file is
    refused as unreadable (AudioError).
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"cannot open {path.name}: {type(exc).__name__}") from exc
    budget = _Budget(probe_budget(size))
    with _open(path, timeout=budget.wall_seconds) as container:
        stream = _audio_stream(container)
        opus = _codec_name(stream) == "opus"
        sample_rate = stream.codec_context.sample_rate
        channels = stream.codec_context.channels
        count = _Count()
        decoded = False
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                count.packets += 1
                count.payload += packet.size
                if count.packets % _CHECK_EVERY == 0:
                    budget.check()
                    count.check_density()
                if opus:
                    count.add(opus_samples(bytes(memoryview(packet)[:2])), _OPUS_RATE)
                    if decoded:
                        continue
                frames = _decodes(stream, packet)
                if frames and not decoded:
                    decoded = True
                    sample_rate = frames[0].sample_rate or sample_rate
                    channels = frames[0].layout.nb_channels or channels
                elif not decoded and count.packets >= _DECODE_PROBE_PACKETS:
                    break
                if not opus:
                    for frame in frames:
                        count.add(frame.samples, frame.sample_rate)
        except av.FFmpegError as exc:
            # A demuxing error after good audio (a truncated download) only ends the count early.
            if not decoded:
                raise AudioError(f"unreadable audio: {type(exc).__name__}") from exc
        if not decoded:
            raise AudioError("the audio stream does not decode")
        if not opus:
            # Decoders with a delay hand out their last samples when flushed.
            for frame in _decodes(stream, None):
                count.add(frame.samples, frame.sample_rate)
        budget.check()
        return AudioInfo(
            duration=count.seconds(),
            codec=_codec_name(stream),
            has_video=_has_video(container),
            container=container.format.name,
            sample_rate=sample_rate,
            channels=channels,
            sendable=_sendable(container, stream),
        )


def _output_path(src: Path, workdir: Path, suffix: str) -> Path:
    return workdir / f"{src.stem}.audio{suffix}"


def _copy(src: Path, dst: Path, muxer: str) -> None:
    """Remux the audio stream of src into dst unchanged (no decoding, no re-encoding)."""
    with _open(src) as container:
        stream = _audio_stream(container)
        with av.open(str(dst), "w", format=muxer) as out:
            out_stream = out.add_stream_from_template(stream)
            written = 0
            for packet in container.demux(stream):
                # The demuxer ends with an empty flush packet, which has nothing to mux.
                if packet.dts is None or not packet.size:
                    continue
                packet.stream = out_stream
                out.mux(packet)
                written += 1
            if not written:
                raise AudioError("no audio packets to copy")


def _reencode(src: Path, dst: Path) -> None:
    """Decode the audio of src and write it as 16 kHz mono FLAC."""
    with av.open(str(dst), "w", format="flac") as out:
        out_stream = out.add_stream("flac", rate=_REENCODE_RATE)
        out_stream.layout = "mono"
        out_stream.format = "s16"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=_REENCODE_RATE)
        written = 0
        for frame in _decode_frames(src):
            for resampled in resampler.resample(frame):
                out.mux(out_stream.encode(resampled))
                written += resampled.samples
        for resampled in resampler.resample(None):
            out.mux(out_stream.encode(resampled))
            written += resampled.samples
        out.mux(out_stream.encode(None))
        if not written:
            raise AudioError("no audio decoded")


def _sendable(container: av.container.InputContainer, stream: AudioStream) -> bool:
    # Cover art, subtitles or data tracks are dead weight in an upload: only pure audio passes.
    only_audio = all(s.type == "audio" for s in container.streams)
    return only_audio and _codec_name(stream) in _ACCEPTED.get(container.format.name, frozenset())


def extract_audio(src: Path, workdir: Path) -> Path:
    """A file holding only the audio track of src in a container Mistral accepts (maybe src)."""
    with _open(src) as container:
        stream = _audio_stream(container)
        codec = _codec_name(stream)
        if _sendable(container, stream):
            return src
    workdir.mkdir(parents=True, exist_ok=True)
    target = _COPY_TARGETS.get(codec)
    if target is not None:
        muxer, suffix = target
        dst = _output_path(src, workdir, suffix)
        try:
            _copy(src, dst, muxer)
            return dst
        except (av.FFmpegError, ValueError, AudioError) as exc:
            # Some streams cannot be remuxed as they are (odd extradata, timestamps): re-encode.
            log.warning("audio copy failed, re-encoding codec=%s err=%s", codec, type(exc).__name__)
            dst.unlink(missing_ok=True)
    dst = _output_path(src, workdir, ".flac")
    try:
        _reencode(src, dst)
    except (av.FFmpegError, ValueError, OSError, AudioError) as exc:
        dst.unlink(missing_ok=True)
        if isinstance(exc, AudioError):
            raise
        raise AudioError(f"cannot re-encode the audio: {type(exc).__name__}") from exc
    return dst


def _decode_frames(path: Path) -> Iterator[av.AudioFrame]:
    """Decoded frames of the audio stream; corrupt packets are skipped, as players do."""
    with _open(path) as container:
        stream = _audio_stream(container)
        for packet in container.demux(stream):
            try:
                frames = stream.codec_context.decode(packet)
            except av.InvalidDataError:
                continue
            yield from frames


def decode_mono(path: Path, sample_rate: int = 16000) -> Iterator[np.ndarray]:
    """Float32 mono blocks of the audio at sample_rate, decoded and resampled as a stream."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    try:
        for frame in _decode_frames(path):
            for resampled in resampler.resample(frame):
                yield resampled.to_ndarray().reshape(-1)
        for resampled in resampler.resample(None):
            yield resampled.to_ndarray().reshape(-1)
    except av.FFmpegError as exc:
        raise AudioError(f"cannot decode the audio: {type(exc).__name__}") from exc


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
    limit = int(max_seconds * _CHUNK_RATE)
    window = int(search_window(max_seconds) * _CHUNK_RATE)
    direct = limit - window  # samples of a chunk written before any cut is possible
    workdir.mkdir(parents=True, exist_ok=True)
    chunks: list[Chunk] = []
    start = 0  # sample where the current chunk starts
    writer: _ChunkWriter | None = None
    # The samples past `direct` in the current chunk, in one buffer allocated once.
    held = np.empty(window, dtype=np.float32)
    held_len = 0

    def open_chunk() -> _ChunkWriter:
        return _ChunkWriter(workdir / f"chunk{len(chunks):04d}.flac")

    def finish(w: _ChunkWriter) -> None:
        w.close()
        chunk = Chunk(len(chunks), w.path, start / _CHUNK_RATE, w.samples / _CHUNK_RATE)
        chunks.append(chunk)
        if on_chunk is not None:
            on_chunk(chunk)

    def feed(block: np.ndarray) -> None:
        nonlocal writer, start, held_len
        while len(block):
            if writer is None:
                writer = open_chunk()
            room = direct - writer.samples
            if room > 0:
                writer.write(block[:room])
                block = block[room:]
                continue
            take = min(len(block), window - held_len)
            held[held_len : held_len + take] = block[:take]
            held_len += take
            block = block[take:]
            if held_len < window:
                continue
            cut = quietest_point(held)
            writer.write(held[:cut])
            finish(writer)
            start += writer.samples
            # The rest of the window opens the next chunk (it is shorter than `direct`).
            writer = open_chunk()
            writer.write(held[cut:])
            held_len = 0

    try:
        for block in _rebuffer(decode_mono(src, _CHUNK_RATE), _CHUNK_RATE):
            if cancelled is not None and cancelled.is_set():
                raise AudioError("cancelled")
            feed(block)
        if held_len:
            if writer is None:
                writer = open_chunk()
            writer.write(held[:held_len])
        if writer is not None and writer.samples:
            finish(writer)
            writer = None
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"cannot cut the audio: {type(exc).__name__}") from exc
    finally:
        if writer is not None:
            writer.close()
    if not chunks:
        raise AudioError("no audio decoded")
    return chunks
