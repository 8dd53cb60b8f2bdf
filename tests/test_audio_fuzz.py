"""probing.probe on mutated containers: it refuses or measures, never crashes, never under-reports.

Each case starts from a real small file of one container (tests.media) and applies a few seeded
mutations: bits flipped, bytes overwritten, inserted, deleted or repeated, the file cut short,
the head of one file spliced onto the body of another, duration fields made to lie. The probe
must then either raise AudioError or report at least the duration an independent decode of the
file yields, and stay within its CPU budget.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from bot.transcription import audio, probing
from tests import media

FORMATS = ["ogg", "mp3", "m4a", "wav", "flac", "webm", "aac", "mp4"]
CASES_PER_FORMAT = 300
SECONDS_PER_FORMAT = 2.0
"""Past this much wall time a format's run stops early (a slow machine runs fewer cases)."""
CPU_MARGIN = 0.25
"""CPU seconds allowed over the probe's budget: the checks fall every few packets, not each."""

WORDS, TOTAL = media.script(2, word_seconds=0.5, pause_seconds=0.3)
SAMPLES = media.speech(WORDS, TOTAL)


def _seed_file(fmt: str) -> bytes:
    if fmt == "mp4":
        return media.video(SAMPLES, size=(32, 32), fps=5)
    return media.encode(SAMPLES, fmt)


SEEDS = {fmt: _seed_file(fmt) for fmt in FORMATS}


def decoded_seconds(path: Path) -> float | None:
    """Seconds of audio plain PyAV decodes from the file (None if it does not open), the way a
    player does: the demuxer's choice of audio stream, packets that fail to decode skipped, the
    demuxing stopped at its first error, the decoder flushed at the end."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return None
    with container:
        if not container.streams.audio:
            return None
        try:
            best = container.streams.best("audio")
        except (av.FFmpegError, ValueError):
            best = None
        stream = best if isinstance(best, av.AudioStream) else container.streams.audio[0]
        seconds = 0.0

        def add(packet: av.Packet | None) -> None:
            nonlocal seconds
            try:
                frames = stream.codec_context.decode(packet)
            except (av.FFmpegError, ValueError):
                return
            seconds += sum(f.samples / f.sample_rate for f in frames if f.sample_rate)

        try:
            for packet in container.demux(stream):
                if packet.size:
                    add(packet)
        except av.FFmpegError:
            pass
        add(None)
        return seconds


# Mutations: each takes the random generator and the bytes, and returns new bytes.


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    run = rng.randbytes(rng.randint(1, 64))
    return data[:at] + run + data[at + len(run) :]


def insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 256)) + data[at:]


def delete(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 512) :]


def repeat(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    chunk = data[at : at + rng.randint(16, 4096)]
    to = rng.randrange(len(data))
    return data[:to] + chunk * rng.randint(1, 8) + data[to:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(1, len(data))]


def splice(rng: random.Random, data: bytes) -> bytes:
    """The head of this file on the body of another (or of itself, shifted)."""
    other = SEEDS[rng.choice(FORMATS)]
    head = rng.randint(16, min(len(data), 2048))
    return data[:head] + other[rng.randint(0, len(other) // 2) :]


def _big_or_small(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, rng.randint(0, 1 << 20), (1 << 31) - 1])


def lie_mp4(rng: random.Random, data: bytes) -> bytes:
    return media.mp4_claiming(data, ticks=_big_or_small(rng))


def lie_ogg(rng: random.Random, data: bytes) -> bytes:
    choice = rng.choice(["zero", "random", "backwards", "huge"])

    def granule(index: int, old: int) -> int:
        if choice == "zero":
            return 0
        if choice == "random":
            return rng.randint(-1, 1 << 40)
        if choice == "backwards":
            return max(0, 10_000_000 - index * 10_000)
        return old * 1000

    return media.ogg_with_granules(data, granule)


def lie_matroska(rng: random.Random, data: bytes) -> bytes:
    at = data.find(b"\x44\x89\x88")  # Duration: an 8-byte float, in ms
    if at < 0:
        return data
    value = rng.choice([0.0, 1.0, -5.0, 1e12, float("nan")])
    return data[: at + 3] + struct.pack(">d", value) + data[at + 11 :]


def lie_wav(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, 4, _big_or_small(rng))  # RIFF size
    at = out.find(b"data")
    if at > 0:
        struct.pack_into("<I", out, at + 4, _big_or_small(rng))
    return bytes(out)


def lie_flac(rng: random.Random, data: bytes) -> bytes:
    # STREAMINFO starts at 8; its total sample count is the low 36 bits of bytes 21..25.
    out = bytearray(data)
    if out[:4] == b"fLaC" and len(out) > 26:
        total = rng.choice([0, 1, rng.randint(0, (1 << 36) - 1)])
        out[21] = (out[21] & 0xF0) | (total >> 32)
        struct.pack_into(">I", out, 22, total & 0xFFFFFFFF)
    return bytes(out)


def lie_mp3(rng: random.Random, data: bytes) -> bytes:
    # The Xing/Info tag's frame count (flag bit 0) comes right after its 8-byte header.
    out = bytearray(data)
    for tag in (b"Xing", b"Info"):
        at = out.find(tag)
        if at > 0 and out[at + 7] & 1:
            struct.pack_into(">I", out, at + 8, _big_or_small(rng))
    return bytes(out)


LIES: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "ogg": lie_ogg,
    "m4a": lie_mp4,
    "mp4": lie_mp4,
    "webm": lie_matroska,
    "wav": lie_wav,
    "flac": lie_flac,
    "mp3": lie_mp3,
    "aac": flip_bits,  # ADTS has no duration field: its frame headers are the only length
}

MUTATIONS = [flip_bits, overwrite, insert, delete, repeat, truncate, splice]


def mutate(rng: random.Random, fmt: str) -> tuple[bytes, list[str]]:
    """One fuzz case: the seed of `fmt` after one to three mutations, and their names."""
    data = SEEDS[fmt]
    applied = []
    for _ in range(rng.randint(1, 3)):
        step = LIES[fmt] if rng.random() < 0.3 else rng.choice(MUTATIONS)
        data = step(rng, data) or data[:1]
        applied.append(step.__name__)
    return data, applied


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_survives_mutated_files(tmp_path: Path, fmt: str) -> None:
    rng = random.Random(f"voxgram-fuzz-{fmt}")
    started = time.monotonic()
    refused = measured = 0
    for case in range(CASES_PER_FORMAT):
        if time.monotonic() - started > SECONDS_PER_FORMAT:
            break
        data, applied = mutate(rng, fmt)
        path = tmp_path / f"case{case:03d}.{fmt}"
        path.write_bytes(data)
        what = f"{fmt} case {case} ({', '.join(applied)})"
        cpu = time.process_time()
        try:
            info = probing.probe(path)
        except audio.AudioError:
            refused += 1
            info = None
        spent = time.process_time() - cpu
        assert spent < probing.probe_budget(len(data)) + CPU_MARGIN, what
        if info is not None:
            measured += 1
            decoded = decoded_seconds(path)
            assert decoded is not None, what
            assert info.duration >= decoded - 1e-9, f"{what}: {info.duration} < {decoded}"
        path.unlink()
    # Some files stay readable, so the duration check above has run.
    assert measured, f"{fmt}: {measured} measured, {refused} refused"


def test_seed_files_probe_to_their_decoded_length(tmp_path: Path) -> None:
    for fmt, data in SEEDS.items():
        path = tmp_path / f"seed.{fmt}"
        path.write_bytes(data)
        decoded = decoded_seconds(path)
        assert decoded == pytest.approx(TOTAL, abs=0.05), fmt
        assert probing.probe(path).duration >= decoded - 1e-9, fmt
