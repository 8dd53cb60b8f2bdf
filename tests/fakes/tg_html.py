"""Telegram's HTML parse mode, parsed by TDLib itself.

The Bot API server parses ``parse_mode=HTML`` with TDLib's ``parseTextEntities`` request; the
``tdjson`` wheel ships that TDLib, whose ``td_execute`` runs the request offline and synchronously.
So the fake accepts exactly what Telegram accepts, with TDLib's entities and error texts
(``Unsupported start tag "x" at byte offset N``, ...).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

# Telegram trims these from both ends of a message after parsing.
TRIMMED = " \t\r\n\v\f"

# TDLib's textEntityType -> the Bot API's MessageEntity type, as telegram-bot-api converts them.
_TYPES = {
    "textEntityTypeBold": "bold",
    "textEntityTypeItalic": "italic",
    "textEntityTypeUnderline": "underline",
    "textEntityTypeStrikethrough": "strikethrough",
    "textEntityTypeSpoiler": "spoiler",
    "textEntityTypeCode": "code",
    "textEntityTypePre": "pre",
    "textEntityTypePreCode": "pre",
    "textEntityTypeTextUrl": "text_link",
    "textEntityTypeMentionName": "text_mention",
    "textEntityTypeCustomEmoji": "custom_emoji",
    "textEntityTypeBlockQuote": "blockquote",
    "textEntityTypeExpandableBlockQuote": "expandable_blockquote",
    "textEntityTypeDateTime": "date_time",
}
# Fields that keep their name from TDLib to the Bot API.
_FIELDS = ("url", "language", "custom_emoji_id", "unix_time")
_ERROR_PREFIX = "Can't parse entities: "


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(exc)`` is TDLib's reason."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as Telegram counts message length."""
    return len(text.encode("utf-16-le")) // 2


@functools.cache
def _td_execute() -> Callable[[bytes], bytes | None]:
    """TDLib's td_execute, loaded on first use with its logging cut down to errors.

    td_execute may be called from any thread: each thread gets its own result buffer, which the
    binding copies into the returned bytes before the next call.
    """
    import tdjson

    tdjson.td_execute(b'{"@type": "setLogVerbosityLevel", "new_verbosity_level": 1}')
    return tdjson.td_execute


def _entity(td_entity: dict[str, Any]) -> dict[str, Any]:
    kind = td_entity["type"]
    entity: dict[str, Any] = {
        "offset": td_entity["offset"],
        "length": td_entity["length"],
        "type": _TYPES[kind["@type"]],
    }
    entity.update((name, kind[name]) for name in _FIELDS if name in kind)
    if "user_id" in kind:  # the Bot API sends the whole User; TDLib gives only its id
        entity["user"] = {"id": kind["user_id"], "is_bot": False, "first_name": ""}
    return entity


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parses Telegram HTML into (visible text, MessageEntity dicts); raises EntityParseError."""
    request = {
        "@type": "parseTextEntities",
        "text": text,
        "parse_mode": {"@type": "textParseModeHTML"},
    }
    raw = _td_execute()(json.dumps(request).encode())
    if raw is None:
        raise RuntimeError("TDLib gave no answer to parseTextEntities")
    answer = json.loads(raw)
    if answer["@type"] == "error":
        raise EntityParseError(answer["message"].removeprefix(_ERROR_PREFIX))
    return trim(answer["text"], [_entity(e) for e in answer["entities"]])


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strips surrounding whitespace as Telegram does, keeping entity offsets consistent."""
    stripped = text.strip(TRIMMED)
    if not stripped:
        return "", []
    shift = utf16_len(text[: len(text) - len(text.lstrip(TRIMMED))])
    total = utf16_len(stripped)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, fixed
