"""Recognition languages `/language` accepts.

Mistral takes any two-letter ISO 639-1 code in `language`, but voxtral-mini-latest (Voxtral
Mini Transcribe 2602) is documented for these thirteen; pinning another would only make
recognition worse than auto-detection. https://docs.mistral.ai/capabilities/audio_transcription
"""

from __future__ import annotations

# ISO 639-1 code → English name, in the order the list is shown.
LANGUAGES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "zh": "Chinese",
}

AUTO = "auto"
