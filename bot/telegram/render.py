"""Pure rendering of a Transcript: Telegram HTML messages, plain text and SubRip. No I/O."""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Sequence
from datetime import timedelta

import srt
from telegram.constants import MessageLimit

from bot.domain.transcript import Segment, Transcript

SPEAKER = "Speaker {n}"
"""A speaker's label; callers pass it translated."""

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


def _spoken(segments: Sequence[Segment]) -> list[tuple[Segment, str]]:
    """Each non-blank segment with its text on one line, in order."""
    return [(seg, text) for seg in segments if (text := _clean(seg.text))]


def _labelled(text: str, number: str, speaker: str) -> str:
    return f"{speaker.format(n=number)}: {text}"


def _lines(transcript: Transcript, speaker: str = SPEAKER) -> list[tuple[str, str]]:
    """(timestamp, text) of every non-blank segment, in order; the text starts with its
    speaker's label where the speaker changes."""
    lines: list[tuple[str, str]] = []
    previous: str | None = None
    for seg, text in _spoken(transcript.segments):
        if seg.speaker is not None and seg.speaker != previous:
            text = _labelled(text, seg.speaker, speaker)
        previous = seg.speaker
        lines.append((format_timestamp(seg.start), text))
    return lines


def transcript_lines(transcript: Transcript, *, speaker: str = SPEAKER) -> list[str]:
    """One plain "m:ss text" line per non-blank segment ("m:ss Speaker 2: text" where the
    speaker changes)."""
    # With a pinned language (timestamps=False) starts are chunk starts: still worth showing,
    # and still seekable, so the format does not change.
    return [f"{stamp} {text}" for stamp, text in _lines(transcript, speaker)]


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
    speaker: str = SPEAKER,
    notes: Sequence[str] = (),
) -> list[str]:
    """Message texts in HTML parse mode, each at most limit UTF-16 units once parsed; the
    header and then the `notes` (how it was made) in italics above the lines."""
    # Telegram counts the limit after entity parsing, so sizes are measured on the plain text
    # and escaping is applied per piece: a split can never land inside "&lt;".
    # https://core.telegram.org/bots/api#sendmessage
    if limit < 2:
        raise ValueError("limit must hold at least one character (2 UTF-16 units)")
    lines = _lines(transcript, speaker)
    if not lines:
        return []
    units: list[tuple[str, str]] = []
    for title in (header, *notes):
        if title and (title := _clean(title)):
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
    speaker: str = SPEAKER,
    notes: Sequence[str] = (),
) -> str:
    """One HTML message: the start of the transcript, then `note` (plain text) on its own line."""
    room = limit - utf16_len(note) - 1
    first = render_messages(transcript, header=header, limit=room, speaker=speaker, notes=notes)
    return "\n".join([*first[:1], html.escape(note, quote=False)])


def render_tail(transcript: Transcript, *, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> str:
    """The end of the transcript as one HTML message: its last "m:ss text" lines that fit in
    limit UTF-16 units once parsed; "" when it has none."""
    kept: list[str] = []
    size = -1  # no newline before the first line
    for stamp, text in reversed(_lines(transcript)):
        for piece in reversed(_split(f"{stamp} {text}", limit, len(stamp) + 1)):
            size += utf16_len(piece) + 1
            if size > limit:
                return "\n".join(reversed(kept))
            kept.append(html.escape(piece, quote=False))
    return "\n".join(reversed(kept))


def visible_text(html_text: str) -> str:
    """The text Telegram shows for a message from render_messages: tags removed, unescaped."""
    return html.unescape(html_text.replace("<i>", "").replace("</i>", ""))


def render_plain(
    transcript: Transcript,
    *,
    header: str | None = None,
    speaker: str = SPEAKER,
    notes: Sequence[str] = (),
) -> str:
    """The transcript as plain text lines, for the CLI and the .txt export, the header and
    `notes` first; "" when empty."""
    lines = transcript_lines(transcript, speaker=speaker)
    if not lines:
        return ""
    titles = [title for raw in (header, *notes) if raw and (title := _clean(raw))]
    return "\n".join([*titles, *lines]) + "\n"


def _ms(seconds: float) -> timedelta:
    """Seconds as a timedelta rounded to the millisecond, SubRip's precision."""
    return timedelta(milliseconds=round(_clamp(seconds) * 1000))


def render_srt(transcript: Transcript, *, speaker: str = SPEAKER) -> str:
    """The transcript as SubRip (composed by the `srt` library): numbered cues of non-blank
    segments, in order, each with its speaker's label when speakers are known; "" when empty."""
    kept = [
        (seg.start, seg.end, text if seg.speaker is None else _labelled(text, seg.speaker, speaker))
        for seg, text in _spoken(transcript.segments)
    ]
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


def render_file(
    transcript: Transcript,
    header: str | None,
    kind: str,
    *,
    speaker: str = SPEAKER,
    notes: Sequence[str] = (),
) -> str:
    """A transcript file's content: SubRip subtitles ("srt") or the timestamped plain text."""
    if kind == "srt":
        return render_srt(transcript, speaker=speaker)
    return render_plain(transcript, header=header, speaker=speaker, notes=notes)
