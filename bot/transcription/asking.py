"""One note's transcription requests with its options: its vocabulary dropped for the rest of
the note once the model refuses it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.domain.options import TranscriptionOptions
from bot.domain.transcript import Segment, Transcript, number_speakers
from bot.transcription.mistral import MistralBiasRefused, MistralClient


@dataclass
class Asking:
    """One note's options, and whether the model refused its vocabulary (the note's other
    requests then go without it)."""

    options: TranscriptionOptions
    bias_refused: bool = False

    async def ask(
        self,
        mistral: MistralClient,
        seconds: float,
        on_segment: Callable[[Segment], None] | None,
        *,
        path: Path | None = None,
        file_url: str | None = None,
    ) -> Transcript:
        """One transcription request with the note's options; asked again without the
        vocabulary if the model refuses it (a refused request is not billed)."""
        options = self.options
        bias = () if self.bias_refused else options.vocabulary
        ask = functools.partial(
            mistral.transcribe,
            path=path,
            file_url=file_url,
            language=options.language,
            diarize=options.diarize,
            audio_seconds=seconds,
            on_segment=on_segment,
        )
        try:
            transcript = await ask(context_bias=bias)
        except MistralBiasRefused:
            self.bias_refused = True
            transcript = await ask()
        # Mistral numbers speakers per request: each request's are numbered on their own.
        return number_speakers(transcript) if options.diarize else transcript
