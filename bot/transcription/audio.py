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

_OPEN_OPTIONS = {
    "format_whitelist": ",".join(DEMUXERS),
    "protocol_whitelist": "file",
    # The WAV demuxer's packets: 64 kB rather than 4 kB. Every packet is a decoded frame and
    # a resampled block in Python, which for 4 kB packets cost more than the audio's work.
    "max_size": "65536",
}

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
        for frame in _joined(_decode_frames(path)):
            for resampled in resampler.resample(frame):
                yield _planes(resampled)[0]
        for resampled in resampler.resample(None):
            yield _planes(resampled)[0]
    except av.FFmpegError as exc:
        raise AudioError(f"cannot decode the audio: {type(exc).__name__}") from exc


JOIN_SECONDS = 1.0
"""Decoded audio is resampled in frames of about this long: the resampler's cost is mostly per
call, and an Opus frame holds 20 ms."""

# Sample formats as numpy types (planar formats end in "p").
_DTYPES = {"dbl": "f8", "flt": "f4", "s16": "i2", "s32": "i4", "s64": "i8", "u8": "u1"}


def _joined(frames: Iterator[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    """The frames, consecutive ones of one format, layout and rate joined up to JOIN_SECONDS."""
    pending: list[av.AudioFrame] = []
    count = 0
    for frame in frames:
        if pending and _kind(frame) != _kind(pending[0]):
            yield _join(pending)
            pending, count = [], 0
        if frame.format.name.removesuffix("p") not in _DTYPES:
            yield frame  # a sample format not known here goes on alone
            continue
        pending.append(frame)
        count += frame.samples
        if count >= JOIN_SECONDS * frame.sample_rate:
            yield _join(pending)
            pending, count = [], 0
    if pending:
        yield _join(pending)


def _kind(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate


def _join(frames: list[av.AudioFrame]) -> av.AudioFrame:
    first = frames[0]
    if len(frames) == 1:
        return first
    joined = av.AudioFrame.from_ndarray(
        np.concatenate([_planes(f) for f in frames], axis=1),
        format=first.format.name,
        layout=first.layout.name,
    )
    joined.sample_rate = first.sample_rate
    return joined


def _planes(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples as from_ndarray takes them, one row per plane, copied straight from
    its buffers (to_ndarray() stacks them with more work in Python)."""
    dtype = np.dtype(_DTYPES[frame.format.name.removesuffix("p")])
    if frame.format.is_planar:
        count = frame.samples
        planes = frame.planes[: frame.layout.nb_channels]
    else:
        count = frame.samples * frame.layout.nb_channels
        planes = frame.planes[:1]
    return np.stack([np.frombuffer(memoryview(p), dtype=dtype, count=count) for p in planes])
