"""Telegram's HTML parse mode, parsed as strictly as the Bot API server (tdlib) parses it.

Follows https://core.telegram.org/bots/api#html-style and tdlib's ``parse_html``: the same tags,
attributes, entities and error texts (``Unsupported start tag "x" at byte offset N``, ...). One
deliberate difference: an unknown named entity such as ``&nbsp;`` is an error here, while Telegram
shows it literally; a bot that escapes its text never sends one, so the fake flags it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\v\f"
# Telegram trims these from both ends of a message after parsing.
TRIMMED = " \t\r\n\v\f"


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(exc)`` is tdlib's reason."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as Telegram counts message length."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_start: int
    byte_offset: int
    expandable: bool = False


@dataclass
class _Parser:
    text: str
    out: list[str] = field(default_factory=list)
    u16: int = 0
    stack: list[_Open] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def byte_offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8"))

    def char_at(self, index: int) -> str:
        return self.text[index] if index < len(self.text) else ""

    def is_space(self, index: int) -> bool:
        char = self.char_at(index)
        return char == "" or char in _SPACES

    def emit(self, chars: str) -> None:
        self.out.append(chars)
        self.u16 += utf16_len(chars)

    def decode_entity(self, index: int, *, strict: bool) -> tuple[str, int] | None:
        """Decodes the entity starting with ``&`` at ``index``: (character, next index)."""
        text = self.text
        end = index + 1
        if self.char_at(end) == "#":
            end += 1
            value = 0
            digits = "0123456789"
            base = 10
            if self.char_at(end) in ("x", "X"):
                end += 1
                digits = "0123456789abcdefABCDEF"
                base = 16
            start = end
            while self.char_at(end) != "" and self.char_at(end) in digits:
                end += 1
            if end > start:
                value = int(text[start:end], base)
            valid = 0 < value < 0x10FFFF and not 0xD800 <= value <= 0xDFFF and end - index < 10
            if not valid:
                if strict and self.char_at(end) == ";":
                    raise EntityParseError(
                        f'Invalid HTML entity "{text[index : end + 1]}" at byte offset '
                        f"{self.byte_offset(index)}"
                    )
                return None
            decoded = chr(value)
        else:
            while self.char_at(end).isascii() and self.char_at(end).isalpha():
                end += 1
            name = text[index + 1 : end]
            if name not in _NAMED:
                if strict and name and self.char_at(end) == ";":
                    raise EntityParseError(
                        f'Unsupported HTML entity "&{name};" at byte offset '
                        f"{self.byte_offset(index)}"
                    )
                return None
            decoded = _NAMED[name]
        if self.char_at(end) == ";":
            end += 1
        return decoded, end

    def decode_attribute(self, value: str) -> str:
        inner = _Parser(value)
        index = 0
        while index < len(value):
            if value[index] == "&":
                decoded = inner.decode_entity(index, strict=False)
                if decoded is not None:
                    inner.out.append(decoded[0])
                    index = decoded[1]
                    continue
            inner.out.append(value[index])
            index += 1
        return "".join(inner.out)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        index = 0
        while index < len(text):
            char = text[index]
            if char == "&":
                decoded = self.decode_entity(index, strict=True)
                if decoded is not None:
                    self.emit(decoded[0])
                    index = decoded[1]
                    continue
            if char != "<":
                self.emit(char)
                index += 1
                continue
            is_end = self.char_at(index + 1) == "/"
            index = self.end_tag(index) if is_end else self.start_tag(index)
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        return "".join(self.out), self.entities

    def start_tag(self, begin: int) -> int:
        offset = self.byte_offset(begin)
        index = begin + 1
        while not self.is_space(index) and self.char_at(index) != ">":
            index += 1
        if self.char_at(index) == "":
            raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
        tag = self.text[begin + 1 : index].lower()
        if tag not in _TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
        opened = _Open(tag, "", self.u16, offset)
        span_class = ""
        while self.char_at(index) != ">":
            while self.char_at(index) != "" and self.is_space(index):
                index += 1
            if self.char_at(index) == "":
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if self.char_at(index) == ">":
                break
            name_start = index
            while not self.is_space(index) and self.char_at(index) not in ("=", ">"):
                index += 1
            name = self.text[name_start:index].lower()
            if not name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {offset}'
                )
            while self.char_at(index) != "" and self.is_space(index):
                index += 1
            if self.char_at(index) != "=":
                if tag == "blockquote" and name == "expandable":
                    opened.expandable = True
                    continue
                raise EntityParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {offset}'
                )
            index += 1
            while self.char_at(index) != "" and self.is_space(index):
                index += 1
            if self.char_at(index) == "":
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            quote = self.char_at(index)
            if quote not in ("'", '"'):
                token_start = index
                while self.char_at(index) != "" and (
                    self.char_at(index).isalnum() or self.char_at(index) in ".-"
                ):
                    index += 1
                value = self.text[token_start:index].lower()
                if not self.is_space(index) and self.char_at(index) != ">":
                    raise EntityParseError(
                        f"Unexpected end of name token at byte offset "
                        f"{self.byte_offset(token_start)}"
                    )
            else:
                closing = self.text.find(quote, index + 1)
                if closing < 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
                value = self.decode_attribute(self.text[index + 1 : closing])
                index = closing + 1
            if tag == "a" and name == "href":
                opened.argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                opened.argument = value.removeprefix("language-")
            elif tag == "span" and name == "class":
                span_class = value
            elif tag == "tg-emoji" and name == "emoji-id":
                opened.argument = value
        if tag == "span" and span_class != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        if tag == "tg-emoji" and not opened.argument:
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        self.stack.append(opened)
        return index + 1

    def end_tag(self, begin: int) -> int:
        offset = self.byte_offset(begin)
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
        index = begin + 2
        while not self.is_space(index) and self.char_at(index) != ">":
            index += 1
        name = self.text[begin + 2 : index].lower()
        while self.char_at(index) != "" and self.is_space(index):
            index += 1
        if self.char_at(index) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {offset}")
        opened = self.stack[-1]
        if name and name != opened.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{opened.tag}>", '
                f'found "</{name}>"'
            )
        self.stack.pop()
        self.close_entity(opened)
        return index + 1

    def close_entity(self, opened: _Open) -> None:
        length = self.u16 - opened.utf16_start
        if length <= 0:
            return
        entity: dict[str, Any] = {"offset": opened.utf16_start, "length": length}
        if opened.tag == "a":
            if not opened.argument:
                return
            entity.update(type="text_link", url=opened.argument)
        elif opened.tag == "blockquote":
            entity["type"] = "expandable_blockquote" if opened.expandable else "blockquote"
        elif opened.tag == "tg-emoji":
            entity.update(type="custom_emoji", custom_emoji_id=opened.argument)
        elif opened.tag == "pre":
            entity["type"] = "pre"
            inner = self.entities[-1] if self.entities else None
            if (
                inner is not None
                and inner["type"] == "code"
                and inner["offset"] == entity["offset"]
                and inner["length"] == length
            ):
                self.entities.pop()
                if inner.get("language"):
                    entity["language"] = inner["language"]
        else:
            entity["type"] = _ENTITY_TYPES[opened.tag]
            if opened.tag == "code" and opened.argument:
                entity["language"] = opened.argument
        self.entities.append(entity)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parses Telegram HTML into (visible text, MessageEntity dicts); raises EntityParseError."""
    visible, entities = _Parser(text).parse()
    return trim(visible, entities)


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
