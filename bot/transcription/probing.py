"""The probe: a media file's real duration and format, from decoded audio, with bounded work.

Blocking (it reads and decodes): call it with asyncio.to_thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import av.container
from av.audio.stream import AudioStream

from bot.transcription.audio import (
    AudioError,
    AudioInfo,
    _audio_stream,
    _codec_name,
    _has_video,
    _open,
    _sendable,
)

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
        count, sample_rate, channels = _count(container, stream, budget, opus=opus)
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


def _count(
    container: av.container.InputContainer, stream: AudioStream, budget: _Budget, *, opus: bool
) -> tuple[_Count, int, int]:
    """Every packet's samples, and the sample rate and channels of the first decoded frame;
    AudioError when nothing decodes."""
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
    return count, sample_rate, channels
