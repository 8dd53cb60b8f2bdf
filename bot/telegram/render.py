"""Pure rendering of a Transcript: Telegram HTML messages, plain text and SubRip. No I/O."""

from __future__ import annotations

import html
import math
import unicodedata
from datetime import timedelta

import srt
from telegram.constants import MessageLimit

from bot.domain.transcript import Transcript

# Code points that attach to the one before them (combining marks, variation selectors, emoji
# skin tones, tag sequences, ZWJ): a hard split right before one would break the visible glyph.
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_ZWJ = "\u200d"


def _clamp(seconds: float) -> float:
    """Seconds made safe to format: negative or non-finite values become 0."""
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def format_timestamp(seconds: float) -> str:
    """Start time as Telegram makes it tap-to-seek: m:ss under an hour, h:mm:ss from an hour."""
    total = math.floor(_clamp(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts message length."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _clean(text: str) -> str:
    """Text on one line: stripped, every run of whitespace (newlines too) made one space."""
    # A newline inside a segment would start a line without a timestamp; str.split also catches
    # \u2028, \x85 and friends that clients render as line breaks.
    return " ".join(text.split())


def _lines(transcript: Transcript) -> list[tuple[str, str]]:
    """(timestamp, text) of every non-blank segment, in order."""
    return [
        (format_timestamp(seg.start), text)
        for seg in transcript.segments
        if (text := _clean(seg.text))
    ]


def transcript_lines(transcript: Transcript) -> list[str]:
    """One plain "m:ss text" line per non-blank segment."""
    # With a pinned language (timestamps=False) starts are chunk starts: still worth showing,
    # and still seekable, so the format does not change.
    return [f"{stamp} {text}" for stamp, text in _lines(transcript)]


def _joins(before: str, after: str) -> bool:
    """True when cutting between these two code points would break one visible character."""
    if before == _ZWJ or after == _ZWJ:
        return True
    code = ord(after)
    if code in _SKIN_TONES or code in _TAGS:
        return True
    return unicodedata.category(after) in {"Mn", "Me", "Mc"}


def _fit(text: str, limit: int) -> int:
    """Number of leading code points of text that fit in limit UTF-16 units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _split(line: str, limit: int, soft_from: int) -> list[str]:
    """Pieces of line of at most limit UTF-16 units, cut at a space at or after soft_from."""
    pieces: list[str] = []
    while utf16_len(line) > limit:
        cut = _fit(line, limit)
        # The space itself is dropped: it would sit at the end or start of a message, where
        # Telegram trims it anyway.
        space = line.rfind(" ", max(soft_from, 1), cut + 1)
        if space > 0:
            pieces.append(line[:space])
            line = line[space + 1 :]
        else:
            # One word longer than a message: cut it, but not inside a visible character when
            # a cut nearby avoids that. Python indexes code points, so surrogate pairs stay whole.
            hard = cut
            while hard > 0 and _joins(line[hard - 1], line[hard]):
                hard -= 1
            cut = hard or cut
            pieces.append(line[:cut])
            line = line[cut:]
        soft_from = 1
    if line:
        pieces.append(line)
    return pieces


def render_messages(
    transcript: Transcript,
    *,
    header: str | None = None,
    limit: int = MessageLimit.MAX_TEXT_LENGTH,
) -> list[str]:
    """Message texts in HTML parse mode, each at most limit UTF-16 units once parsed."""
    # Telegram counts the limit after entity parsing, so sizes are measured on the plain text
    # and escaping is applied per piece: a split can never land inside "&lt;".
    # https://core.telegram.org/bots/api#sendmessage
    if limit < 2:
        raise ValueError("limit must hold at least one character (2 UTF-16 units)")
    lines = _lines(transcript)
    if not lines:
        return []
    units: list[tuple[str, str]] = []
    if header and (title := _clean(header)):
        units += [
            (piece, f"<i>{html.escape(piece, quote=False)}</i>")
            for piece in _split(title, limit, 1)
        ]
    for stamp, text in lines:
        # Soft cuts only after the timestamp's own space, so a timestamp never stands alone.
        for piece in _split(f"{stamp} {text}", limit, len(stamp) + 1):
            units.append((piece, html.escape(piece, quote=False)))
    return _pack(units, limit)


def _pack(units: list[tuple[str, str]], limit: int) -> list[str]:
    """(plain, markup) lines joined into messages of at most limit UTF-16 units of plain."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for plain, markup in units:
        length = utf16_len(plain)
        if current and size + 1 + length > limit:
            messages.append("\n".join(current))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(markup)
    messages.append("\n".join(current))
    return messages


def render_note(title: str, text: str, *, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """A bold title over the non-blank lines of plain `text`, as HTML messages of at most
    limit UTF-16 units once parsed."""
    units = [(title, f"<b>{html.escape(title, quote=False)}</b>")]
    for line in text.splitlines():
        if cleaned := _clean(line):
            units += [(p, html.escape(p, quote=False)) for p in _split(cleaned, limit, 1)]
    return _pack(units, limit)


def render_preview(
    transcript: Transcript,
    *,
    note: str,
    header: str | None = None,
    limit: int = MessageLimit.MAX_TEXT_LENGTH,
) -> str:
    """One HTML message: the start of the transcript, then `note` (plain text) on its own line."""
    room = limit - utf16_len(note) - 1
    first = render_messages(transcript, header=header, limit=room)
    return "\n".join([*first[:1], html.escape(note, quote=False)])


def visible_text(html_text: str) -> str:
    """The text Telegram shows for a message from render_messages: tags removed, unescaped."""
    return html.unescape(html_text.replace("<i>", "").replace("</i>", ""))


def render_plain(transcript: Transcript, *, header: str | None = None) -> str:
    """The transcript as plain text lines, for the CLI and the .txt export; "" when empty."""
    lines = transcript_lines(transcript)
    if lines and header and (title := _clean(header)):
        lines.insert(0, title)
    return "\n".join(lines) + "\n" if lines else ""


def _ms(seconds: float) -> timedelta:
    """Seconds as a timedelta rounded to the millisecond, SubRip's precision."""
    return timedelta(milliseconds=round(_clamp(seconds) * 1000))


def render_srt(transcript: Transcript) -> str:
    """The transcript as SubRip (composed by the `srt` library): numbered cues of non-blank
    segments, in order; "" when empty."""
    kept = [(seg.start, seg.end, text) for seg in transcript.segments if (text := _clean(seg.text))]
    cues: list[srt.Subtitle] = []
    for n, (start, end, text) in enumerate(kept):
        if not transcript.timestamps:
            # No segment times (a pinned language): a part lasts until the next one starts,
            # the last until the end of the audio.
            end = kept[n + 1][0] if n + 1 < len(kept) else float(transcript.billed_seconds)
        # A cue ending before it starts is rejected by some players: hold it at its start.
        end = max(_clamp(end), _clamp(start))
        cues.append(srt.Subtitle(index=n + 1, start=_ms(start), end=_ms(end), content=text))
    # reindex=False: srt would drop zero-length cues, and the segments are already in order.
    return str(srt.compose(cues, reindex=False))


def render_file(transcript: Transcript, header: str | None, kind: str) -> str:
    """A transcript file's content: SubRip subtitles ("srt") or the timestamped plain text."""
    return render_srt(transcript) if kind == "srt" else render_plain(transcript, header=header)
