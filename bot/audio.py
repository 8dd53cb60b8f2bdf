"""PyAV helpers: probe a media file, take its audio track, decode it for silence detection.

All functions block (they read files and decode); call them with asyncio.to_thread. None of them
loads a whole file into memory: PyAV demuxes and decodes packet by packet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import numpy as np
from av.audio.stream import AudioStream

log = logging.getLogger(__name__)

# How many audio packets may fail or yield nothing before the file counts as holding no audio:
# decoders with a delay (AAC) need a few packets before the first frame.
_DECODE_PROBE_PACKETS = 32

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

# Raw-stream demuxers, whose duration FFmpeg only estimates from the bit rate (a VBR MP3 without
# a Xing header, ADTS AAC): their real duration is counted from the packets instead.
_ESTIMATED_DURATION = frozenset({"aac", "mp3", "ac3", "eac3", "amr", "mpegts", "loas"})

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


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise AudioError(f"cannot open {path.name}: {type(exc).__name__}") from exc


def _audio_stream(container: av.container.InputContainer) -> AudioStream:
    if not container.streams.audio:
        raise AudioError("no audio stream")
    try:
        stream = container.streams.best("audio")
    except (av.FFmpegError, ValueError):
        stream = None
    return stream if isinstance(stream, AudioStream) else container.streams.audio[0]


def _is_picture(stream: av.stream.Stream) -> bool:
    """True for cover art: a video stream holding one still image (mp3/m4a album art)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _has_video(container: av.container.InputContainer) -> bool:
    return any(not _is_picture(s) for s in container.streams.video)


def _codec_name(stream: AudioStream) -> str:
    # canonical_name is the codec's id ("mp3"), not the decoder's name ("mp3float").
    return stream.codec_context.codec.canonical_name


def _declared_duration(container: av.container.InputContainer, stream: AudioStream) -> float | None:
    """The duration the file's headers state, if any."""
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


class _PacketClock:
    """The time the demuxed packets of one stream span."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.end: int | None = None
        self.summed = 0

    def add(self, packet: av.Packet[AudioStream]) -> None:
        if not packet.size:
            return
        length = packet.duration or 0
        self.summed += length
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None:
            self.first = ts if self.first is None else min(self.first, ts)
            self.end = ts + length if self.end is None else max(self.end, ts + length)

    def seconds(self, stream: AudioStream) -> float:
        if not stream.time_base:
            return 0.0
        if self.first is not None and self.end is not None:
            return float((self.end - self.first) * stream.time_base)
        return float(self.summed * stream.time_base)


def _decodes(stream: AudioStream, packet: av.Packet[AudioStream]) -> list[av.AudioFrame]:
    try:
        return stream.codec_context.decode(packet)
    except (av.FFmpegError, ValueError):
        return []


def probe(path: Path) -> AudioInfo:
    """The audio's real duration and format; AudioError if it has no decodable audio stream.

    The duration is the headers' when they state one, else the span of the demuxed packets; for
    raw streams (MP3, ADTS) the packets are always counted and the header kept only if it agrees.
    """
    with _open(path) as container:
        stream = _audio_stream(container)
        declared = _declared_duration(container, stream)
        count = declared is None or container.format.name in _ESTIMATED_DURATION
        sample_rate = stream.codec_context.sample_rate
        channels = stream.codec_context.channels
        clock = _PacketClock()
        decoded = False
        tried = 0
        try:
            for packet in container.demux(stream):
                clock.add(packet)
                if not decoded:
                    tried += 1
                    frames = _decodes(stream, packet)
                    if frames:
                        decoded = True
                        sample_rate = frames[0].sample_rate or sample_rate
                        channels = frames[0].layout.nb_channels or channels
                    elif tried >= _DECODE_PROBE_PACKETS:
                        break
                if decoded and not count:
                    break
        except av.FFmpegError as exc:
            # A demuxing error after good audio (a truncated download) only ends the count early.
            if not decoded:
                raise AudioError(f"unreadable audio: {type(exc).__name__}") from exc
        if not decoded:
            raise AudioError("the audio stream does not decode")
        duration = declared
        if count:
            counted = clock.seconds(stream)
            # A Xing/LAME header is exact where the packet span includes encoder padding.
            if declared is None or abs(declared - counted) > max(0.1, 0.01 * counted):
                duration = counted
        return AudioInfo(
            duration=duration if duration is not None else 0.0,
            codec=_codec_name(stream),
            has_video=_has_video(container),
            container=container.format.name,
            sample_rate=sample_rate,
            channels=channels,
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


def extract_audio(src: Path, workdir: Path) -> Path:
    """A file holding only the audio track of src in a container Mistral accepts (maybe src)."""
    with _open(src) as container:
        stream = _audio_stream(container)
        codec = _codec_name(stream)
        fmt = container.format.name
        # Cover art, subtitles or data tracks are dead weight in an upload: only pure audio passes.
        only_audio = all(s.type == "audio" for s in container.streams)
    if only_audio and codec in _ACCEPTED.get(fmt, frozenset()):
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
