"""The bot's languages: one gettext catalog per language, read with Babel.

Catalogs are the `.po` files in bot/i18n/locales/<lang>/LC_MESSAGES/messages.po, compiled in memory
when first used (Babel's write_mo), so a fresh clone, `pip install .` and the Docker image need
no build step and no compiled files are committed. `make messages` re-extracts the message ids
from the code into bot/i18n/locales/messages.pot and merges them into every catalog.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"
LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
UI_LANGUAGES = ("en", "ru", "es", "de")
"""English is the source language; the others have a catalog each."""


def N_(message: str) -> str:
    """Mark a message id for extraction; it is translated where it is shown."""
    return message


def ui_language(language_code: str | None) -> str:
    """The catalog for a Telegram language_code (an IETF tag such as 'pt-br'), else English."""
    primary = (language_code or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in UI_LANGUAGES else DEFAULT


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of a UI language; English (the message ids) translates to itself."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def language_name(code: str, in_language: str) -> str:
    """The name of a language (ISO 639-1 code) in a UI language, from Babel's CLDR data."""
    try:
        name = Locale.parse(code).get_display_name(in_language)
    except (ValueError, UnknownLocaleError):
        return code
    return name or code
