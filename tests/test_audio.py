"""bot.transcription.audio on real files made by tests.media: durations, refusals, tracks."""

from __future__ import annotations

import ctypes
import io
import itertools
import math
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bot.transcription import audio, chunking, probing
from tests import media

WORDS, TOTAL = media.script(4)
SAMPLES = media.speech(WORDS, TOTAL)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def encode_with(
    codec: str, fmt: str, samples: np.ndarray, rate: int = 48000, bit_rate: int | None = None
) -> bytes:
    """Mono audio in any codec/container PyAV can write, for formats tests.media does not make."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream: Any = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if bit_rate:
            stream.bit_rate = bit_rate
        for i in range(0, len(samples), 4096):
            block = np.ascontiguousarray(samples[i : i + 4096]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "codec", "container"),
    [
        ("ogg", "opus", "ogg"),
        ("mp3", "mp3", "mp3"),
        ("m4a", "aac", "mov,mp4,m4a,3gp,3g2,mj2"),
        ("wav", "pcm_s16le", "wav"),
        ("flac", "flac", "flac"),
    ],
)
def test_probe_reads_the_real_duration(
    tmp_path: Path, fmt: str, codec: str, container: str
) -> None:
    path = write(tmp_path, f"note.{fmt}", media.encode(SAMPLES, fmt))
    info = probing.probe(path)
    assert info.duration == pytest.approx(TOTAL, abs=0.05)
    assert info.codec == codec
    assert info.container == container
    assert not info.has_video
    assert info.sample_rate == 48000
    assert info.channels == 1


def test_probe_measures_audio_whose_header_has_no_duration(tmp_path: Path) -> None:
    # Raw ADTS AAC: FFmpeg only guesses its duration from the bit rate.
    path = write(tmp_path, "note.aac", encode_with("aac", "adts", SAMPLES))
    info = probing.probe(path)
    assert info.duration == pytest.approx(TOTAL, abs=0.05)
    assert info.codec == "aac"


def test_probe_of_a_long_note(tmp_path: Path) -> None:
    words, total = media.script(60)
    path = write(tmp_path, "long.ogg", media.encode(media.speech(words, total), "ogg"))
    assert probing.probe(path).duration == pytest.approx(total, abs=0.05)


def test_probe_of_a_video_note(tmp_path: Path) -> None:
    path = write(tmp_path, "video.mp4", media.video(SAMPLES))
    info = probing.probe(path)
    assert info.has_video
    assert info.codec == "aac"
    assert info.duration == pytest.approx(TOTAL, abs=0.05)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.ogg", b""),
        ("random.ogg", np.random.default_rng(7).bytes(20_000)),
        ("random.mp3", np.random.default_rng(8).bytes(64_000)),
        ("notes.ogg", b"Shopping list:\n- milk\n- eggs\n" * 40),
        ("image.ogg", PNG),
        ("truncated.ogg", media.voice_note(2)[0][:120]),
        ("truncated.m4a", media.encode(SAMPLES, "m4a")[:2000]),
    ],
)
def test_probe_refuses_what_is_not_audio(tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(audio.AudioError):
        probing.probe(path)


def test_probe_refuses_an_audio_track_of_an_unknown_codec(tmp_path: Path) -> None:
    # The Matroska codec id renamed: FFmpeg keeps the audio track, with no decoder for it.
    data = media.encode(SAMPLES, "webm").replace(b"A_OPUS", b"A_VOXG")
    path = write(tmp_path, "note.webm", data)
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context is None
    with pytest.raises(audio.AudioError):
        probing.probe(path)
    with pytest.raises(audio.AudioError):
        audio.extract_audio(path, tmp_path / "work")


def test_probe_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(audio.AudioError):
        probing.probe(tmp_path / "gone.ogg")


def test_probe_refuses_a_video_without_sound(tmp_path: Path) -> None:
    data = media.video(SAMPLES)
    src = write(tmp_path, "video.mp4", data)
    silent = tmp_path / "silent.mp4"
    with av.open(str(src)) as inp, av.open(str(silent), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for packet in inp.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                out.mux(packet)
    with pytest.raises(audio.AudioError):
        probing.probe(silent)


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "m4a", "wav", "flac"])
def test_extract_audio_keeps_an_audio_file_as_it_is(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, f"note.{fmt}", media.encode(SAMPLES, fmt))
    assert audio.extract_audio(path, tmp_path / "work") == path


def test_extract_audio_keeps_webm_opus(tmp_path: Path) -> None:
    path = write(tmp_path, "note.webm", encode_with("libopus", "webm", SAMPLES))
    assert audio.extract_audio(path, tmp_path / "work") == path


def test_extract_audio_copies_aac_out_of_a_video_note(tmp_path: Path) -> None:
    src = write(tmp_path, "video.mp4", media.video(SAMPLES))
    out = audio.extract_audio(src, tmp_path / "work")
    assert out.parent == tmp_path / "work"
    assert out.suffix == ".m4a"
    with av.open(str(out)) as container:
        assert not container.streams.video
        assert len(container.streams) == 1
        assert container.streams.audio[0].codec_context.name == "aac"
    # Stream copy: the very same packets, not a re-encoding.
    assert media.audio_packets(out) == media.audio_packets(src)
    info = probing.probe(out)
    assert info.duration == pytest.approx(TOTAL, abs=0.05)
    assert not info.has_video


@pytest.mark.parametrize(
    ("codec", "suffix", "decoded"),
    [
        ("mp3", ".mp3", "mp3"),
        ("opus", ".ogg", "opus"),
        ("flac", ".flac", "flac"),
        ("pcm_s16le", ".wav", "pcm_s16le"),
    ],
)
def test_extract_audio_copies_other_codecs(
    tmp_path: Path, codec: str, suffix: str, decoded: str
) -> None:
    src = write(tmp_path, "video.mp4", media.video(SAMPLES, audio_codec=codec))
    out = audio.extract_audio(src, tmp_path / "work")
    assert out.suffix == suffix
    info = probing.probe(out)
    assert (info.codec, info.has_video) == (decoded, False)
    assert info.duration == pytest.approx(TOTAL, abs=0.05)
    # Copied, not re-encoded: the same coded bytes (WAV only cuts them into other packets).
    assert b"".join(media.audio_packets(out)) == b"".join(media.audio_packets(src))


def test_extract_audio_reencodes_a_codec_mistral_does_not_take(tmp_path: Path) -> None:
    src = write(tmp_path, "note.mkv", encode_with("ac3", "matroska", SAMPLES))
    out = audio.extract_audio(src, tmp_path / "work")
    assert out.suffix == ".flac"
    info = probing.probe(out)
    assert info.codec == "flac"
    assert info.duration == pytest.approx(TOTAL, abs=0.05)
    assert info.channels == 1


def test_extract_audio_copies_aac_out_of_an_unaccepted_container(tmp_path: Path) -> None:
    src = write(tmp_path, "note.mkv", encode_with("aac", "matroska", SAMPLES))
    out = audio.extract_audio(src, tmp_path / "work")
    assert out.suffix == ".m4a"
    assert media.audio_packets(out) == media.audio_packets(src)


def test_extract_audio_refuses_garbage(tmp_path: Path) -> None:
    path = write(tmp_path, "video.mp4", np.random.default_rng(3).bytes(50_000))
    with pytest.raises(audio.AudioError):
        audio.extract_audio(path, tmp_path / "work")


@pytest.mark.parametrize("fmt", ["ogg", "m4a"])
def test_decode_mono_streams_float_blocks(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, f"note.{fmt}", media.encode(SAMPLES, fmt))
    blocks = list(audio.decode_mono(path))
    assert len(blocks) > 1
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    samples = np.concatenate(blocks)
    assert len(samples) / 16000 == pytest.approx(TOTAL, abs=0.05)
    word = WORDS[1]
    middle = samples[round((word.start + 0.1) * 16000) : round((word.end - 0.1) * 16000)]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    gap = samples[round((word.end + 0.1) * 16000) : round((word.end + 0.3) * 16000)]
    assert np.max(np.abs(gap)) < 0.01


def test_a_wav_file_is_read_in_packets_of_thousands_of_samples(tmp_path: Path) -> None:
    """A long recording is cut in a fraction of the time packets of 1024 samples took."""
    path = write(tmp_path, "recording.wav", media.encode(SAMPLES, "wav"))
    frames = list(audio._decode_frames(path))
    assert sum(f.samples for f in frames) / 48000 == pytest.approx(TOTAL, abs=0.05)
    # 64 kB packets of 16-bit audio at 48 kHz: 32 768 samples each (4 kB: 2048).
    assert len(frames) <= math.ceil(TOTAL * 48000 / 32768)


def test_decoded_audio_is_resampled_a_second_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Opus frame holds 20 ms: resampling each alone cost more than decoding it."""
    calls: list[int] = []
    resampler = av.AudioResampler

    class Counting:
        def __init__(self, **settings: Any) -> None:
            self.resampler = resampler(**settings)

        def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
            calls.append(0 if frame is None else frame.samples)
            return self.resampler.resample(frame)

    monkeypatch.setattr(av, "AudioResampler", Counting)
    path = write(tmp_path, "note.ogg", media.encode(SAMPLES, "ogg"))

    samples = sum(len(b) for b in audio.decode_mono(path))

    assert samples / 16000 == pytest.approx(TOTAL, abs=0.05)
    # TOTAL seconds of 20 ms frames, resampled in a handful of calls, the flush included.
    assert len(calls) <= math.ceil(TOTAL) + 2


def test_decode_mono_of_stereo_in_each_sample_format_matches_frame_by_frame(
    tmp_path: Path,
) -> None:
    rate = 48000
    left = SAMPLES[: 2 * rate].astype(np.float32)
    both = np.stack([left, left * 0.3])
    for codec, sample_format, data in [
        ("pcm_s16le", "s16", (both * 30000).astype(np.int16)),
        ("pcm_u8", "u8", (both * 100 + 128).astype(np.uint8)),
        ("pcm_s32le", "s32", (both * 2e9).astype(np.int32)),
        ("pcm_f32le", "flt", both),
    ]:
        path = tmp_path / f"{codec}.wav"
        with av.open(str(path), "w", format="wav") as out:
            stream = out.add_stream(codec, rate=rate)
            stream.layout = "stereo"
            stream.format = sample_format
            packed = np.ascontiguousarray(data.T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(packed, format=sample_format, layout="stereo")
            frame.sample_rate = rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        one_by_one = [
            r.to_ndarray().reshape(-1)
            for f in [*audio._decode_frames(path), None]
            for r in resampler.resample(f)
        ]
        assert np.array_equal(
            np.concatenate(list(audio.decode_mono(path))), np.concatenate(one_by_one)
        ), codec


def test_decode_mono_of_a_video_at_another_rate(tmp_path: Path) -> None:
    path = write(tmp_path, "video.mp4", media.video(SAMPLES))
    samples = np.concatenate(list(audio.decode_mono(path, sample_rate=8000)))
    assert len(samples) / 8000 == pytest.approx(TOTAL, abs=0.05)


def test_media_generation_is_fast() -> None:
    import time

    words, total = media.script(30)
    started = time.perf_counter()
    data = media.encode(media.speech(words, total), "ogg")
    assert time.perf_counter() - started < 1.0
    assert total == pytest.approx(30 * 1.0 - 0.4 + 0.6)
    assert data[:4] == b"OggS"


def test_quietest_point_is_the_middle_of_the_longest_quiet_stretch() -> None:
    rate = 16000
    loud = np.full(rate, 0.5, dtype=np.float32)
    short_gap = np.zeros(rate // 2, dtype=np.float32)
    long_gap = np.zeros(2 * rate, dtype=np.float32)
    samples = np.concatenate([loud, short_gap, loud, long_gap, loud])
    cut = chunking.quietest_point(samples)
    middle = 2.5 * rate + rate  # the long gap spans 2.5 s … 4.5 s
    assert abs(cut - middle) <= 0.05 * rate


def test_split_at_silences_cuts_only_in_pauses(tmp_path: Path) -> None:
    words, total = media.script(40, word_seconds=1.2, pause_seconds=0.6)
    src = write(tmp_path, "talk.ogg", media.encode(media.speech(words, total), "ogg"))
    chunks = chunking.split_at_silences(src, tmp_path / "chunks", 30)
    assert len(chunks) == 3
    assert all(c.duration <= 30 for c in chunks)
    # The chunks follow each other with no gap or overlap and cover the whole audio.
    for before, after in itertools.pairwise(chunks):
        assert after.start == pytest.approx(before.start + before.duration, abs=1e-6)
    assert chunks[-1].start + chunks[-1].duration == pytest.approx(total, abs=0.05)
    for cut in (c.start for c in chunks[1:]):
        assert all(not (w.start - 0.1 < cut < w.end + 0.1) for w in words)
        assert cut >= 30 - chunking.search_window(30) - 1  # shortly before the limit
    for chunk in chunks:
        assert probing.probe(chunk.path).duration == pytest.approx(chunk.duration, abs=0.01)


def test_split_at_silences_bounds_audio_with_no_pause(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(95 * rate) / rate
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    src = write(tmp_path, "hum.flac", media.encode(tone, "flac", rate))
    chunks = chunking.split_at_silences(src, tmp_path / "chunks", 30)
    assert all(c.duration <= 30 for c in chunks)
    assert sum(c.duration for c in chunks) == pytest.approx(95, abs=0.01)


def test_split_at_silences_stops_when_cancelled(tmp_path: Path) -> None:
    words, total = media.script(40, word_seconds=1.2, pause_seconds=0.6)
    src = write(tmp_path, "talk.ogg", media.encode(media.speech(words, total), "ogg"))
    cancel = threading.Event()
    seen: list[chunking.Chunk] = []

    def first_only(chunk: chunking.Chunk) -> None:
        seen.append(chunk)
        cancel.set()

    with pytest.raises(audio.AudioError):
        chunking.split_at_silences(
            src, tmp_path / "chunks", 30, cancelled=cancel, on_chunk=first_only
        )
    assert len(seen) == 1


def test_probe_decodes_when_the_header_understates_the_length(tmp_path: Path) -> None:
    words, total = media.script(20, word_seconds=1.0, pause_seconds=0.5)
    data = bytearray(encode_with("libopus", "matroska", media.speech(words, total)))
    # The Matroska Duration element (id 0x4489, an 8-byte float in ms) now claims 5 s.
    at = data.find(b"\x44\x89\x88")
    assert at > 0
    data[at + 3 : at + 11] = struct.pack(">d", 5000.0)
    src = write(tmp_path, "short.mkv", bytes(data))
    with av.open(str(src)) as container:
        assert container.duration is not None and container.duration / av.time_base < 6
    info = probing.probe(src)
    assert info.duration == pytest.approx(total, abs=0.1)


@pytest.mark.parametrize(("fmt", "sendable"), [("ogg", True), ("mp3", True), ("wav", True)])
def test_probe_says_whether_the_file_goes_to_mistral_as_it_is(
    tmp_path: Path, fmt: str, sendable: bool
) -> None:
    src = write(tmp_path, f"note.{fmt}", media.encode(SAMPLES, fmt))
    assert probing.probe(src).sendable is sendable
    assert (audio.extract_audio(src, tmp_path / "w") == src) is sendable


def test_probe_of_a_video_is_not_sendable_as_it_is(tmp_path: Path) -> None:
    src = write(tmp_path, "clip.mp4", media.video(SAMPLES))
    assert probing.probe(src).sendable is False
    assert audio.extract_audio(src, tmp_path / "w") != src


def _resampled(samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples (at 48 kHz) taken at `rate` by nearest neighbour: enough for a test tone."""
    return samples[(np.arange(len(samples) * rate // 48000) * 48000 // rate)]


@pytest.mark.parametrize(
    ("name", "codec", "fmt", "rate", "bit_rate"),
    [
        ("note.webm", "libopus", "webm", 48000, None),
        ("note.opus", "libopus", "ogg", 48000, None),
        ("note.aac", "aac", "adts", 48000, None),
        ("note.amr", "libopencore_amrnb", "amr", 8000, None),
        ("note.wma", "wmav2", "asf", 48000, 64000),
        ("note.caf", "alac", "caf", 48000, None),
        ("note.aiff", "pcm_s16be", "aiff", 48000, None),
        ("note.3gp", "aac", "3gp", 48000, None),
        ("note.mov", "aac", "mov", 48000, None),
    ],
)
def test_probe_reads_every_container_the_bot_takes(
    tmp_path: Path, name: str, codec: str, fmt: str, rate: int, bit_rate: int | None
) -> None:
    data = encode_with(codec, fmt, _resampled(SAMPLES, rate), rate, bit_rate)
    info = probing.probe(write(tmp_path, name, data))
    assert info.container in audio.DEMUXERS
    assert info.duration == pytest.approx(TOTAL, abs=0.05)


def test_probe_reads_a_path_with_a_colon_as_a_file(tmp_path: Path) -> None:
    # A local Bot API server keeps files under a folder named after the token ("123:ABC…").
    folder = tmp_path / "123456:ABC-def"
    folder.mkdir()
    path = write(folder, "concat:voice.ogg", media.encode(SAMPLES, "ogg"))
    assert probing.probe(path).duration == pytest.approx(TOTAL, abs=0.05)


_IN_ACCESS, _IN_OPEN = 0x01, 0x20  # inotify events: a file was read, a file was opened


@contextmanager
def opens_in(folder: Path) -> Iterator[list[str]]:
    """The names of the files opened in `folder` inside the block (inotify), in order, filled in
    when the block ends; a name appears once per open.

    Reads are watched too: inotify merges an event into an identical one just before it, and
    reads between two opens of one file keep them apart."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        pytest.skip("inotify is not available")
    names: list[str] = []
    try:
        if libc.inotify_add_watch(fd, os.fsencode(folder), _IN_OPEN | _IN_ACCESS) < 0:
            pytest.skip("inotify is not available")
        yield names
        while True:
            try:
                events = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            at = 0
            while at < len(events):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", events, at)
                name = events[at + 16 : at + 16 + length].rstrip(b"\0").decode()
                if mask & _IN_OPEN and name:
                    names.append(name)
                at += 16 + length
    finally:
        os.close(fd)


def test_opens_in_sees_what_ffmpeg_opens(tmp_path: Path) -> None:
    path = write(tmp_path, "note.ogg", media.encode(SAMPLES, "ogg"))
    with opens_in(tmp_path) as opened:
        probing.probe(path)
    assert opened == ["note.ogg"]


@pytest.fixture
def other_note(tmp_path: Path) -> Path:
    """Another user's voice note, beside the file under test (as on a local Bot API server)."""
    return write(tmp_path, "other.ogg", media.voice_note(3)[0])


@pytest.mark.parametrize("entry", ["other.ogg", "{other}", "/etc/passwd"])
def test_probe_refuses_a_concat_list_named_mp3(
    tmp_path: Path, other_note: Path, entry: str
) -> None:
    listing = f"ffconcat version 1.0\nfile {entry.format(other=other_note)}\n"
    path = write(tmp_path, "song.mp3", listing.encode())
    with opens_in(tmp_path) as opened, pytest.raises(audio.AudioError):
        probing.probe(path)
    assert opened == ["song.mp3"]


@pytest.mark.parametrize("name", ["song.mp3", "song.m3u8"])
@pytest.mark.parametrize("segment", ["other.ogg", "file://{other}"])
def test_probe_refuses_an_hls_playlist(
    tmp_path: Path, other_note: Path, name: str, segment: str
) -> None:
    # A playlist is sent as a document: "song.m3u8" with MIME type audio/x-mpegurl is accepted
    # as audio by its MIME type.
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
        f"#EXTINF:10.0,\n{segment.format(other=other_note)}\n#EXT-X-ENDLIST\n"
    )
    path = write(tmp_path, name, playlist.encode())
    with opens_in(tmp_path) as opened, pytest.raises(audio.AudioError):
        probing.probe(path)
    assert opened == [name]


def test_probe_refuses_a_concat_list_that_includes_itself(tmp_path: Path) -> None:
    path = write(tmp_path, "loop.mp3", b"ffconcat version 1.0\nfile loop.mp3\n")
    with opens_in(tmp_path) as opened, pytest.raises(audio.AudioError):
        probing.probe(path)
    assert opened == ["loop.mp3"]  # opened once: no recursion


def test_probe_decodes_an_m4a_whose_headers_claim_no_time(tmp_path: Path) -> None:
    words, total = media.script(40)
    data = media.mp4_claiming(media.encode(media.speech(words, total), "m4a"))
    path = write(tmp_path, "lie.m4a", data)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.duration * stream.time_base < 0.001
        stamps = [p.pts for p in container.demux(stream) if p.pts is not None]
        assert (max(stamps) - min(stamps)) * stream.time_base < 0.1
    info = probing.probe(path)
    assert info.duration == pytest.approx(total, abs=0.05)


def test_probe_refuses_a_flood_of_tiny_packets_quickly(tmp_path: Path) -> None:
    # 2 MB: a million one-byte Opus packets.
    path = write(tmp_path, "flood.ogg", media.tiny_packet_ogg(1_000_000))
    started = time.process_time()
    with pytest.raises(audio.AudioError):
        probing.probe(path)
    assert time.process_time() - started < 0.5


def test_probe_reads_a_few_tiny_packets(tmp_path: Path) -> None:
    # One-byte packets (a TOC byte alone) are what an encoder with DTX sends in a pause.
    path = write(tmp_path, "pause.ogg", media.tiny_packet_ogg(1000))
    assert probing.probe(path).duration == pytest.approx(20.0)


def test_probe_refuses_packets_that_decode_to_nothing(tmp_path: Path) -> None:
    good = [bytes([0x08]) + bytes(20)] * 40
    # Code 3 with a frame count of 0: an invalid packet, which decodes to nothing.
    empty = [bytes([0x0B, 0x00]) + bytes(20)] * 5000
    path = write(tmp_path, "empty.ogg", media.ogg_opus(good + empty))
    with pytest.raises(audio.AudioError, match="decode to nothing"):
        probing.probe(path)


def test_probe_gives_up_past_its_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words, total = media.script(30)
    path = write(tmp_path, "note.ogg", media.encode(media.speech(words, total), "ogg"))
    monkeypatch.setattr(probing, "PROBE_BASE_SECONDS", 1e-4)
    monkeypatch.setattr(probing, "PROBE_SECONDS_PER_MB", 0.0)
    monkeypatch.setattr(probing, "PROBE_WALL_FACTOR", 1e5)
    with pytest.raises(audio.AudioError, match="ran out of time"):
        probing.probe(path)


def test_probe_budget_grows_with_the_size_up_to_a_cap() -> None:
    assert probing.probe_budget(0) == probing.PROBE_BASE_SECONDS
    assert probing.probe_budget(10_000_000) > probing.probe_budget(1_000_000)
    assert probing.probe_budget(10**12) == probing.PROBE_MAX_SECONDS


@pytest.mark.parametrize(
    ("packet", "samples"),
    [
        (b"", 0),
        (bytes([0x08]), 960),  # SILK 20 ms, one frame
        (bytes([0x09, 1, 2]), 1920),  # code 1: two frames
        (bytes([0x0A]), 0),  # code 2 needs a length byte
        (bytes([0xF8 | 3, 6]), 6 * 960),  # CELT 20 ms, code 3: six frames (120 ms)
        (bytes([0xF8 | 3, 7]), 0),  # seven frames: 140 ms, over the 120 ms a packet may hold
        (bytes([0x03, 0]), 0),  # code 3 with no frames
        (bytes([0x83, 48]), 48 * 120),  # CELT 2.5 ms, 48 frames
    ],
)
def test_opus_samples_follows_the_toc(packet: bytes, samples: int) -> None:
    assert probing.opus_samples(packet) == samples


def test_opus_samples_never_undercounts_the_decoder(tmp_path: Path) -> None:
    data, _words, _total = media.voice_note(5)
    path = write(tmp_path, "note.ogg", data)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        counted = decoded = 0
        for packet in container.demux(stream):
            if packet.size:
                counted += probing.opus_samples(bytes(packet))
            decoded += sum(f.samples for f in stream.codec_context.decode(packet))
    assert decoded <= counted <= decoded + 312 + 960  # pre-skip and end trimming
