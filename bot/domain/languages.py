"""Recognition languages `/language` accepts.

Mistral takes any two-letter ISO 639-1 code in `language`, but voxtral-mini-latest (Voxtral
Mini Transcribe 2602) is documented for these thirteen; pinning another would only make
recognition worse than auto-detection. https://docs.mistral.ai/capabilities/audio_transcription
Their names, in each UI language, come from Babel (bot/i18n.py).
"""

from __future__ import annotations

# Arabic, German, English, Spanish, French, Hindi, Italian, Japanese, Korean, Dutch,
# Portuguese, Russian, Chinese: in the order the list is shown.
LANGUAGES: tuple[str, ...] = (
    "ar",
    "de",
    "en",
    "es",
    "fr",
    "hi",
    "it",
    "ja",
    "ko",
    "nl",
    "pt",
    "ru",
    "zh",
)

AUTO = "auto"
