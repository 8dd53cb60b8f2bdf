"""Real audio for tests: "tone words", one sine burst per word, encoded as Telegram sends it."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

VOCABULARY_SIZE = 100
AMPLITUDE = 0.5
FADE_SECONDS = 0.01


@dataclass(frozen=True)
class Word:
    """One tone word: its index k (frequency word_freq(k)), start and length in seconds."""

    index: int
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


def word_freq(k: int) -> float:
    """The frequency of word k, in Hz."""
    if not 0 <= k < VOCABULARY_SIZE:
        raise ValueError(f"word index {k} out of range")
    return 300.0 + 50.0 * k


def speech(words: Sequence[Word], total: float, sample_rate: int = 48000) -> np.ndarray:
    """Float32 mono samples: a faded sine burst per word, digital silence between words."""
    out = np.zeros(round(total * sample_rate), dtype=np.float32)
    fade = max(1, round(FADE_SECONDS * sample_rate))
    for word in words:
        start = round(word.start * sample_rate)
        n = min(round(word.duration * sample_rate), len(out) - start)
        if n <= 0:
            continue
        t = np.arange(n, dtype=np.float64) / sample_rate
        burst = AMPLITUDE * np.sin(2 * np.pi * word_freq(word.index) * t)
        # Fades keep the bursts click-free, so lossy codecs do not smear energy into the gaps.
        ramp = np.minimum(1.0, np.minimum(np.arange(n) + 1, n - np.arange(n)) / fade)
        out[start : start + n] = (burst * ramp).astype(np.float32)
    return out


def script(
    n_words: int,
    *,
    word_seconds: float = 0.6,
    pause_seconds: float = 0.4,
    lead: float = 0.3,
    first_index: int = 0,
) -> tuple[list[Word], float]:
    """Consecutive words k = first_index, … (mod 100) and the total duration (lead at both ends)."""
    words = [
        Word(
            index=(first_index + i) % VOCABULARY_SIZE,
            start=round(lead + i * (word_seconds + pause_seconds), 6),
            duration=word_seconds,
        )
        for i in range(n_words)
    ]
    total = lead + n_words * word_seconds + max(0, n_words - 1) * pause_seconds + lead
    return words, round(total, 6)


# (container format, codec, sample format, bit rate) per name the tests use.
_FORMATS: dict[str, tuple[str, str, str, int | None]] = {
    "ogg": ("ogg", "libopus", "flt", 32_000),
    "mp3": ("mp3", "libmp3lame", "fltp", 64_000),
    "m4a": ("ipod", "aac", "fltp", 64_000),
    "wav": ("wav", "pcm_s16le", "s16", None),
    "flac": ("flac", "flac", "s16", None),
    "webm": ("webm", "libopus", "flt", 32_000),
    "aac": ("adts", "aac", "fltp", 64_000),
}


def _add_audio_stream(
    container: Any, codec: str, sample_rate: int, sample_format: str, bit_rate: int | None
) -> Any:
    # Opus only runs at 48 kHz (and a few divisors); a Telegram voice note is always 48 kHz.
    rate = 48000 if codec == "libopus" else sample_rate
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono"
    stream.format = sample_format
    if bit_rate:
        stream.bit_rate = bit_rate
    return stream


def _audio_frames(samples: np.ndarray, sample_rate: int) -> list[Any]:
    block = 4096
    frames = []
    for i in range(0, len(samples), block):
        chunk = np.ascontiguousarray(samples[i : i + block], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = i
        frame.time_base = Fraction(1, sample_rate)
        frames.append(frame)
    return frames


def _encode_audio(container: Any, stream: Any, samples: np.ndarray, sample_rate: int) -> None:
    # The codec context converts/resamples each frame to its own format, rate and frame size.
    for frame in _audio_frames(samples, sample_rate):
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode(
    samples: np.ndarray, fmt: str, sample_rate: int = 48000, *, bit_rate: int | None = None
) -> bytes:
    """Encode mono float samples as "ogg" (Opus), "mp3", "m4a" (AAC), "wav", "flac", "webm"
    (Opus) or "aac" (ADTS) bytes.

    `bit_rate` overrides the lossy codecs' default (the benchmark makes 1 MB voice notes)."""
    try:
        container_format, codec, sample_format, default_rate = _FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}") from None
    bit_rate = bit_rate or default_rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as container:
        stream = _add_audio_stream(container, codec, sample_rate, sample_format, bit_rate)
        _encode_audio(container, stream, samples, sample_rate)
    return buf.getvalue()


# Codecs video() can put next to the H.264 track in MP4.
_VIDEO_AUDIO: dict[str, tuple[str, str, int | None]] = {
    "aac": ("aac", "fltp", 64_000),
    "mp3": ("libmp3lame", "fltp", 64_000),
    "opus": ("libopus", "flt", 32_000),
    "flac": ("flac", "s16", None),
    "pcm_s16le": ("pcm_s16le", "s16", None),
}


def video(
    samples: np.ndarray,
    *,
    size: tuple[int, int] = (240, 240),
    fps: int = 15,
    audio_codec: str = "aac",
    sample_rate: int = 48000,
) -> bytes:
    """An MP4 (like a Telegram video note): H.264 frames as long as the audio, plus the audio."""
    codec, sample_format, bit_rate = _VIDEO_AUDIO[audio_codec]
    container_format = "mov" if audio_codec == "pcm_s16le" else "mp4"
    buf = io.BytesIO()
    width, height = size
    duration = len(samples) / sample_rate
    with av.open(buf, "w", format=container_format) as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width = width
        vstream.height = height
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        astream = _add_audio_stream(container, codec, sample_rate, sample_format, bit_rate)
        image = np.zeros((height, width, 3), dtype=np.uint8)
        for i in range(max(1, round(duration * fps))):
            image[:, :] = (i * 7) % 256
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        _encode_audio(container, astream, samples, sample_rate)
    return buf.getvalue()


def voice_note(n_words: int = 3, **kw: Any) -> tuple[bytes, list[Word], float]:
    """An Opus-in-Ogg voice note of n_words tone words: its bytes, the words and its duration."""
    sample_rate = kw.pop("sample_rate", 48000)
    words, total = script(n_words, **kw)
    return encode(speech(words, total, sample_rate), "ogg", sample_rate), words, total


def audio_packets(source: Path | bytes) -> list[bytes]:
    """The payloads of the first audio stream's packets: equal lists mean no re-encoding."""
    with av.open(str(source) if isinstance(source, Path) else io.BytesIO(source)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


# Crafted files: containers built or patched by hand, whose fields say what the test wants them to.

_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(data: bytes) -> int:
    """The CRC of an Ogg page (polynomial 0x04C11DB7, MSB first, no initial or final XOR).

    That CRC of the data is the bit-reversed zlib (LSB-first) CRC of the bit-reversed bytes,
    taken with zero initial and final XOR."""
    raw = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def ogg_page(
    packets: Sequence[bytes], *, serial: int, sequence: int, granule: int, flags: int = 0
) -> bytes:
    """One Ogg page holding whole packets (at most 255 lacing values between them)."""
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    if len(lacing) > 255:
        raise ValueError("too many packets for one Ogg page")
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


OPUS_TOC_SAMPLES = (480, 960, 1920, 2880) * 3 + (480, 960) * 2 + (120, 240, 480, 960) * 4
"""Samples (at 48 kHz) of one frame for each of the 32 Opus TOC configurations (RFC 6716 §3.1)."""


def ogg_opus(packets: Sequence[bytes], *, pre_skip: int = 312, serial: int = 0x766F78) -> bytes:
    """An Ogg Opus file (mono, 48 kHz) holding these Opus packets, 255 to a page at most.

    Granule positions follow the TOC byte of each packet (one frame a packet, code 0)."""
    head = struct.pack("<8sBBHIhB", b"OpusHead", 1, 1, pre_skip, 48000, 0, 0)
    tags = struct.pack("<8sI5sI", b"OpusTags", 5, b"tests", 0)
    pages = [
        ogg_page([head], serial=serial, sequence=0, granule=0, flags=0x02),
        ogg_page([tags], serial=serial, sequence=1, granule=0),
    ]
    granule = 0
    per_page = 255
    for n, start in enumerate(range(0, len(packets), per_page)):
        group = packets[start : start + per_page]
        granule += sum(OPUS_TOC_SAMPLES[p[0] >> 3] for p in group if p)
        last = start + per_page >= len(packets)
        flags = 0x04 if last else 0
        pages.append(ogg_page(group, serial=serial, sequence=2 + n, granule=granule, flags=flags))
    return b"".join(pages)


def ogg_with_granules(data: bytes, granule: Callable[[int, int], int]) -> bytes:
    """The Ogg `data` with each page's granule position replaced by granule(page index, old
    position), its CRC made right again: an Ogg file lying about where its audio ends."""
    out = bytearray(data)
    at = index = 0
    while out.startswith(b"OggS", at) and at + 27 <= len(out):
        segments = out[at + 26]
        size = 27 + segments + sum(out[at + 27 : at + 27 + segments])
        if at + size > len(out):
            break
        (old,) = struct.unpack_from("<q", out, at + 6)
        struct.pack_into("<q", out, at + 6, granule(index, old))
        struct.pack_into("<I", out, at + 22, 0)
        struct.pack_into("<I", out, at + 22, ogg_crc(bytes(out[at : at + size])))
        at += size
        index += 1
    return bytes(out)


def tiny_packet_ogg(count: int, toc: int = 0x08) -> bytes:
    """An Ogg Opus file of `count` one-byte packets (a TOC byte alone: 20 ms of silence each)."""
    return ogg_opus([bytes([toc])] * count)


def _mp4_boxes(data: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes between start and end."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            return
        yield kind, at, at + header, at + size
        at += size


_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def mp4_claiming(data: bytes, *, ticks: int = 1) -> bytes:
    """The MP4/M4A `data` with every duration field (mvhd, tkhd, mdhd) set to `ticks` and every
    sample's duration in the stts table set to 1 tick; edit lists are blanked to "free" boxes.

    The coded audio is untouched: it decodes as long as before, while the headers and the
    packet timestamps say it lasts next to nothing."""
    out = bytearray(data)

    def walk(start: int, end: int) -> None:
        for kind, _box, body, box_end in _mp4_boxes(out, start, end):
            if kind in _MP4_CONTAINERS:
                walk(body, box_end)
            elif kind == b"edts":
                out[_box + 4 : _box + 8] = b"free"
            elif kind in (b"mvhd", b"mdhd", b"tkhd"):
                version = out[body]
                # After version/flags: creation, modification and a third field (timescale or
                # track id, 4 bytes), then tkhd has 4 reserved bytes; then the duration.
                time_size = 8 if version == 1 else 4
                at = body + 4 + 2 * time_size + 4 + (4 if kind == b"tkhd" else 0)
                if version == 1:
                    struct.pack_into(">Q", out, at, ticks)
                else:
                    struct.pack_into(">I", out, at, ticks)
            elif kind == b"stts":
                (entries,) = struct.unpack_from(">I", out, body + 4)
                for i in range(entries):
                    struct.pack_into(">I", out, body + 8 + 8 * i + 4, 1)

    walk(0, len(out))
    return bytes(out)


def dialogue(
    turns: Sequence[Sequence[int]],
    *,
    word_seconds: float = 0.5,
    pause_seconds: float = 0.3,
    turn_pause: float = 1.5,
    lead: float = 0.3,
) -> tuple[list[Word], float]:
    """Turns of speech, each a list of word indices (0–49 sound low, 50–99 high: two voices to
    the fake Mistral), words `pause_seconds` apart, turns `turn_pause` apart; the words and the
    total duration (lead at both ends)."""
    words: list[Word] = []
    at = lead
    for n, turn in enumerate(turns):
        if n:
            at += turn_pause - pause_seconds
        for index in turn:
            words.append(Word(index=index, start=round(at, 6), duration=word_seconds))
            at += word_seconds + pause_seconds
    total = at - pause_seconds + lead
    return words, round(total, 6)
