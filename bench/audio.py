"""Audio for the benchmark: tone-word voice notes (tests/media.py) and long WAV recordings.

The fake Mistral really decodes what it receives and hears the tone words, so every transcript
the benchmark waits for is checked against the words that were sent.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, replace

import numpy as np

from tests import media
from tests.fakes.mistral import DEFAULT_VOCABULARY

MB = 1_000_000  # sizes and memory are counted in decimal megabytes, as the targets are
# Opus tops out near 256 kb/s for one channel: the densest a voice note gets.
OPUS_MAX_BIT_RATE = 256_000
WORD_PERIOD = 1.0  # media.script's defaults: a 0.6 s word, then a 0.4 s pause
WAV_BLOCK_SECONDS = 60


@dataclass(frozen=True)
class Note:
    """Audio bytes, the words in it (as the fake Mistral names them) and its length."""

    data: bytes
    words: tuple[str, ...]
    seconds: float

    @property
    def text(self) -> str:
        """The transcription text the fake Mistral answers for this note."""
        return " ".join(self.words)


def distinct_notes(count: int) -> list[Note]:
    """`count` voice notes of three words, no two alike (up to 10 000): a transcript names its
    note, so the fake Mistral's time can be charged to the right one."""
    if count > 10_000:
        raise ValueError("at most 10 000 distinct notes")
    base, total = media.script(3)
    notes = []
    for k in range(count):
        indices = ((k // 100) % 100, k % 100, (k + 50) % 100)
        words = [replace(w, index=i) for w, i in zip(base, indices, strict=True)]
        data = media.encode(media.speech(words, total), "ogg")
        notes.append(Note(data, tuple(DEFAULT_VOCABULARY[i] for i in indices), total))
    return notes


def sized_voice_note(size: int) -> Note:
    """A voice note of about `size` bytes: Opus at its highest mono bit rate."""
    n_words = max(1, round(size / (OPUS_MAX_BIT_RATE / 8) / WORD_PERIOD))
    words, total = media.script(n_words)
    samples = media.speech(words, total)
    # A faint noise floor, as in a real room, keeps the encoder at its bit rate in the pauses.
    noise = np.random.default_rng(7).normal(0.0, 0.002, len(samples)).astype(np.float32)
    data = media.encode(samples + noise, "ogg", bit_rate=OPUS_MAX_BIT_RATE)
    return Note(data, tuple(DEFAULT_VOCABULARY[w.index] for w in words), total)


def wav_recording(seconds: float, sample_rate: int) -> tuple[bytes, int]:
    """A mono 16-bit WAV of tone words (one a second), built a minute at a time.

    Returns the bytes and the number of words in it.
    """
    buf = io.BytesIO()
    words_total = 0
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        done = 0.0
        while done < seconds:
            block = min(float(WAV_BLOCK_SECONDS), seconds - done)
            words = [
                media.Word(
                    index=(words_total + i) % media.VOCABULARY_SIZE, start=0.3 + i, duration=0.6
                )
                for i in range(int(block / WORD_PERIOD))
                if 0.3 + i + 0.6 <= block
            ]
            samples = media.speech(words, block, sample_rate)
            out.writeframes((samples * 32767).astype("<i2").tobytes())
            words_total += len(words)
            done += block
    return buf.getvalue(), words_total


def wav_of_size(size: int, sample_rate: int) -> tuple[bytes, float, int]:
    """A WAV recording of about `size` bytes: bytes, seconds and number of words."""
    seconds = size / (2 * sample_rate)
    data, words = wav_recording(seconds, sample_rate)
    return data, seconds, words
