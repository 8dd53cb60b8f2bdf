"""Tests for bot.render: timestamps, Telegram message splitting, plain text and SubRip."""

from __future__ import annotations

import html
import itertools
import random
import re
from datetime import timedelta

import pytest
import srt
from telegram.constants import MessageLimit

from bot.domain.transcript import Segment, Transcript
from bot.telegram.render import (
    format_timestamp,
    render_messages,
    render_plain,
    render_srt,
    render_tail,
    transcript_lines,
    utf16_len,
    visible_text,
)

LIMIT = MessageLimit.MAX_TEXT_LENGTH
STAMP = re.compile(r"^(\d+:)?\d{1,2}:\d{2} ")


def make(*texts: str, step: float = 5.0, timestamps: bool = True) -> Transcript:
    """A transcript with one segment per text, step seconds apart."""
    return Transcript(
        segments=tuple(
            Segment(start=i * step, end=i * step + step - 0.5, text=t) for i, t in enumerate(texts)
        ),
        timestamps=timestamps,
    )


def assert_valid_html(message: str) -> None:
    """Only the tags we produce, balanced, and no raw '<', '>' or stray '&' in the text."""
    body = re.sub(r"</?i>", "", message)
    assert "<" not in body and ">" not in body
    # Every '&' starts one of the three escapes html.escape(quote=False) produces.
    assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", body, flags=re.DOTALL)
    assert message.count("<i>") == message.count("</i>") <= 1
    assert html.escape(html.unescape(body), quote=False) == body


# --- format_timestamp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0:00"),
        (0.999, "0:00"),
        (59.99, "0:59"),
        (60, "1:00"),
        (65.9, "1:05"),
        (599, "9:59"),
        (600, "10:00"),
        (3599, "59:59"),
        (3599.999, "59:59"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (86399, "23:59:59"),
        (86400, "24:00:00"),
        (-3, "0:00"),
        (-0.5, "0:00"),
        (float("nan"), "0:00"),
    ],
)
def test_format_timestamp(seconds: float, expected: str) -> None:
    assert format_timestamp(seconds) == expected


# --- utf16_len --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("привет", 6),
        ("€", 1),
        ("🎙", 2),
        ("🎙️", 3),  # microphone + VS16
        ("👍🏽", 4),  # thumbs up + skin tone, both outside the BMP
        ("a😀b", 4),
    ],
)
def test_utf16_len(text: str, expected: int) -> None:
    assert utf16_len(text) == expected
    assert utf16_len(text) == len(text.encode("utf-16-le")) // 2


# --- transcript_lines / render_plain ----------------------------------------------------------


def test_lines_strip_and_collapse_and_skip_blank() -> None:
    t = Transcript(
        segments=(
            Segment(0, 1, "  hello  "),
            Segment(1, 2, "   "),
            Segment(2, 3, ""),
            Segment(65.9, 70, "two\nlines\r\nhere\u2028too"),
            Segment(3725, 3730, "late"),
        )
    )
    assert transcript_lines(t) == ["0:00 hello", "1:05 two lines here too", "1:02:05 late"]


def test_lines_keep_chunk_starts_when_language_pinned() -> None:
    t = make("first", "second", step=30.0, timestamps=False)
    assert transcript_lines(t) == ["0:00 first", "0:30 second"]


def test_render_plain() -> None:
    t = make("a < b", "c & d", "")
    assert render_plain(t) == "0:00 a < b\n0:05 c & d\n"
    assert render_plain(make()) == ""
    assert render_plain(make(" ", "\n")) == ""


# --- render_messages: small cases -------------------------------------------------------------


def test_empty_transcript_gives_no_messages() -> None:
    assert render_messages(make()) == []
    assert render_messages(make("  ", "\n\t"), header="From Alice") == []


def test_single_message_escapes_text_not_timestamps() -> None:
    t = make("a <b> & c", "x > y")
    assert render_messages(t) == ["0:00 a &lt;b&gt; &amp; c\n0:05 x &gt; y"]


def test_quotes_are_not_escaped() -> None:
    assert render_messages(make('he said "hi" it\'s')) == ['0:00 he said "hi" it\'s']


def test_header_once_in_first_message_first_line() -> None:
    texts = [f"segment {i} " + "word " * 200 for i in range(30)]
    messages = render_messages(make(*texts), header="Forwarded from <Bob & Co>")
    assert len(messages) > 1
    assert messages[0].startswith("<i>Forwarded from &lt;Bob &amp; Co&gt;</i>\n0:00 segment 0 ")
    assert all("<i>" not in m for m in messages[1:])
    assert visible_text(messages[0]).split("\n")[0] == "Forwarded from <Bob & Co>"
    for m in messages:
        assert utf16_len(visible_text(m)) <= LIMIT
        assert_valid_html(m)


def test_header_counts_towards_limit() -> None:
    line = "0:00 " + "x" * 95
    assert render_messages(make("x" * 95), limit=100) == [line]
    messages = render_messages(make("x" * 95), header="hi", limit=100)
    assert messages == ["<i>hi</i>", line]


def test_multiline_header_becomes_one_line() -> None:
    assert render_messages(make("x"), header="From\nAlice") == ["<i>From Alice</i>\n0:00 x"]


def test_blank_header_is_ignored() -> None:
    assert render_messages(make("x"), header="  ") == ["0:00 x"]


def test_blank_segments_are_skipped() -> None:
    t = make("one", "", "   ", "\n", "two")
    assert render_messages(t) == ["0:00 one\n0:20 two"]


def test_tiny_limit_rejected() -> None:
    with pytest.raises(ValueError):
        render_messages(make("x"), limit=1)


# --- render_messages: the limit ---------------------------------------------------------------


def test_limit_exactly_hit_is_one_message() -> None:
    # "0:00 " + text + "\n" + "0:05 " + text2 == 4096 units exactly.
    first = "a" * 2000
    second = "&" * (LIMIT - 5 - 2000 - 1 - 5)
    messages = render_messages(make(first, second))
    assert len(messages) == 1
    assert utf16_len(visible_text(messages[0])) == LIMIT
    assert len(messages[0]) > LIMIT  # escaped HTML is longer; only the visible length counts


def test_limit_exceeded_by_one_splits_between_segments() -> None:
    first = "a" * 2000
    second = "&" * (LIMIT - 5 - 2000 - 1 - 5 + 1)
    messages = render_messages(make(first, second))
    assert [visible_text(m) for m in messages] == ["0:00 " + first, "0:05 " + second]


def test_limit_counts_utf16_not_code_points() -> None:
    # "0:00 " is 5 units; each emoji is 2 units but one code point.
    fits = "😀" * ((LIMIT - 5) // 2)  # 4095 units in all
    assert render_messages(make(fits)) == ["0:00 " + fits]
    too_long = "😀" * ((LIMIT - 5) // 2 + 1)  # 4097 units, 2051 code points
    assert len(render_messages(make(too_long))) == 2


def test_greedy_packing() -> None:
    # Lines of 10 units: "0:00 " + 5 letters. With limit 32, three lines take 32 units.
    t = make(*("abcde" for _ in range(7)))
    messages = render_messages(t, limit=32)
    assert [m.count("\n") + 1 for m in messages] == [3, 3, 1]
    assert all(utf16_len(visible_text(m)) <= 32 for m in messages)


# --- render_messages: a long mixed transcript -------------------------------------------------

WORDS = [
    "a<b",
    "x&y",
    "c>d",
    "&amp;",
    "<i>not</i>",
    "🎙️",
    "👍🏽",
    "👨‍👩‍👧",
    "привет",
    "Мир",
    "ёжик",
    "hello",
    "Telegram",
    "&lt;",
    "😀",
    "e\u0301",
    "1:23",
]


def long_transcript(seed: int = 7) -> Transcript:
    """About 40 segments of about 300 characters, 12,000 characters in all."""
    rng = random.Random(seed)
    texts = []
    for _ in range(40):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 300:
            words.append(rng.choice(WORDS))
        texts.append(" ".join(words))
    return make(*texts, step=37.3)


def test_long_transcript_fits_and_round_trips() -> None:
    t = long_transcript()
    plain_lines = transcript_lines(t)
    total = sum(len(line) for line in plain_lines)
    assert 11_000 < total < 14_000 and len(plain_lines) == 40

    messages = render_messages(t)
    assert len(messages) >= 3
    visible = [visible_text(m) for m in messages]
    for m, v in zip(messages, visible, strict=True):
        assert m and v
        assert utf16_len(v) <= LIMIT
        assert_valid_html(m)
        # Split only between segments: every message is whole lines, each with its timestamp.
        for line in v.split("\n"):
            assert line in plain_lines
            assert STAMP.match(line)
    assert "\n".join(visible) == "\n".join(plain_lines)
    assert "\n".join(visible) + "\n" == render_plain(t)


def test_long_transcript_is_packed_greedily() -> None:
    messages = render_messages(long_transcript())
    visible = [visible_text(m) for m in messages]
    # The next message's first line would not have fitted in the one before.
    for before, after in itertools.pairwise(visible):
        first = after.split("\n")[0]
        assert utf16_len(before) + 1 + utf16_len(first) > LIMIT


@pytest.mark.parametrize("limit", [40, 100, 333, 1000])
def test_long_transcript_small_limits(limit: int) -> None:
    t = long_transcript(seed=limit)
    messages = render_messages(t, header="Forwarded from Иван 🎙️", limit=limit)
    for m in messages:
        assert m
        assert utf16_len(visible_text(m)) <= limit
        assert_valid_html(m)
    # Nothing lost: every message is whole lines or pieces of one line, in order.
    words = "".join(visible_text(m).replace("\n", "").replace(" ", "") for m in messages)
    expected = "Forwarded from Иван 🎙️" + "".join(transcript_lines(t))
    assert words == expected.replace(" ", "")


# --- render_messages: segments longer than a message ------------------------------------------


def test_long_segment_split_at_whitespace_with_timestamp_once() -> None:
    rng = random.Random(1)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < 10_000:
        words.append(rng.choice(["alpha", "<beta>", "&", "гамма", "🎙️", "δ", "epsilon"]))
    text = " ".join(words)
    t = Transcript(
        segments=(Segment(0, 1, "short"), Segment(125, 400, text), Segment(401, 402, "end"))
    )

    messages = render_messages(t)
    visible = [visible_text(m) for m in messages]
    assert len(messages) >= 3
    for m, v in zip(messages, visible, strict=True):
        assert utf16_len(v) <= LIMIT
        assert_valid_html(m)
        assert not v.startswith(" ") and not v.endswith(" ")
    joined = "\n".join(visible)
    assert joined.count("2:05 ") == 1
    assert joined.startswith("0:00 short\n2:05 ")
    assert joined.endswith("\n6:41 end")
    # Cut only at spaces, each dropped: the words rejoin exactly.
    long_part = joined[len("0:00 short\n2:05 ") : -len("\n6:41 end")]
    assert long_part.replace("\n", " ") == text
    # Whole words on each side of every cut.
    pieces = [p for v in visible for p in v.split("\n")][1:-1]
    for piece in pieces:
        assert all(w in words for w in STAMP.sub("", piece).split(" ")), piece


def test_long_segment_starts_fill_greedily() -> None:
    text = " ".join(["word"] * 3000)  # 14,999 characters
    messages = render_messages(make(text))
    visible = [visible_text(m) for m in messages]
    assert [STAMP.match(v) is not None for v in visible] == [True] + [False] * (len(visible) - 1)
    for v in visible[:-1]:
        # Filled to within one word of the limit.
        assert LIMIT - len(" word") < utf16_len(v) <= LIMIT


def test_emoji_word_hard_split_keeps_surrogate_pairs() -> None:
    text = "😀" * 5000  # 10,000 UTF-16 units, no spaces
    messages = render_messages(make(text))
    visible = [visible_text(m) for m in messages]
    assert len(messages) == 3
    assert visible[0].startswith("0:00 😀")
    assert sum(v.count("0:00") for v in visible) == 1
    for v in visible:
        assert utf16_len(v) <= LIMIT
        # Every piece encodes to whole UTF-16 pairs: strict encoding fails on a lone surrogate.
        v.encode("utf-16-le", errors="strict")
        assert set(STAMP.sub("", v)) == {"😀"}
    assert utf16_len(visible[0]) == LIMIT - 1  # 5 + 2045 * 2: one more emoji would not fit
    assert "".join(STAMP.sub("", v) for v in visible) == text


def test_hard_split_keeps_emoji_modifiers_with_their_base() -> None:
    text = "👍🏽" * 3000  # 4 units each
    visible = [visible_text(m) for m in render_messages(make(text))]
    assert "".join(STAMP.sub("", v) for v in visible) == text
    for v in visible:
        assert utf16_len(v) <= LIMIT
        body = STAMP.sub("", v)
        assert body.startswith("👍") and body.endswith("🏽")


def test_hard_split_never_cuts_an_escape() -> None:
    text = "&<>" * 2000
    messages = render_messages(make(text), limit=100)
    for m in messages:
        assert_valid_html(m)
        assert utf16_len(visible_text(m)) <= 100
    assert "".join(STAMP.sub("", visible_text(m)) for m in messages) == text


def test_word_longer_than_limit_after_short_words() -> None:
    text = "tiny " + "x" * 250 + " end"
    visible = [visible_text(m) for m in render_messages(make(text), limit=100)]
    assert visible[0] == "0:00 tiny"
    assert visible[1:] == ["x" * 100, "x" * 100, "x" * 50 + " end"]


def test_first_word_longer_than_limit_keeps_timestamp_with_it() -> None:
    visible = [visible_text(m) for m in render_messages(make("y" * 150), limit=100)]
    assert visible == ["0:00 " + "y" * 95, "y" * 55]


def test_long_header_is_split_and_stays_italic() -> None:
    messages = render_messages(make("x"), header="h" * 150, limit=100)
    assert messages == ["<i>" + "h" * 100 + "</i>", "<i>" + "h" * 50 + "</i>\n0:00 x"]


# --- visible_text -----------------------------------------------------------------------------


def test_visible_text() -> None:
    assert visible_text("<i>A &amp; B</i>\n0:00 &lt;i&gt;") == "A & B\n0:00 <i>"


# --- is_blank ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "blank"),
    [
        ((), True),
        (("",), True),
        (("  ",), True),
        (("...",), True),
        ((" . , !",), True),
        (("", "\n", "…", "—"), True),
        (("🎙️ 👍🏽",), True),
        (("a",), False),
        (("...", "7"), False),
        (("ёж",), False),
        (("日本",), False),
        ((" . ", "ok"), False),
    ],
)
def test_is_blank(texts: tuple[str, ...], blank: bool) -> None:
    assert make(*texts).is_blank is blank


# --- render_srt -------------------------------------------------------------------------------


def test_srt_format() -> None:
    t = Transcript(segments=(Segment(0, 1.5, "Hello"), Segment(3661.0015, 3662.25, "World")))
    assert render_srt(t) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n01:01:01,002 --> 01:01:02,250\nWorld\n\n"
    )


def test_srt_empty() -> None:
    assert render_srt(make()) == ""
    assert render_srt(make(" ", "")) == ""


def test_srt_round_trip() -> None:
    t = Transcript(
        segments=(
            Segment(0.0, 2.345, "a < b & c > d"),
            Segment(2.5, 5.0, "   "),  # skipped, numbering stays consecutive
            Segment(5.001, 7.999, "two\n\nparagraphs"),
            Segment(59.9995, 61.0, "привет 🎙️ 👍🏽"),
            Segment(-1.0, 0.5, "negative start"),
            Segment(100.0, 99.0, "ends before start"),
            Segment(36_000.123, 360_000.5, "100 hours"),
            *long_transcript().segments,
        )
    )
    cues = list(srt.parse(render_srt(t)))
    kept = [s for s in t.segments if s.text.strip()]
    assert [c.index for c in cues] == list(range(1, len(kept) + 1))
    for cue, seg in zip(cues, kept, strict=True):
        start = max(seg.start, 0.0)
        end = max(seg.end, start)
        assert cue.start == timedelta(milliseconds=round(start * 1000))
        assert cue.end == timedelta(milliseconds=round(end * 1000))
        assert cue.content == " ".join(seg.text.split())
    assert cues[1].content == "two paragraphs"
    assert cues[4].end == cues[4].start == timedelta(seconds=100)
    # And srt's own composer agrees with ours byte for byte.
    assert srt.compose(cues, reindex=False) == render_srt(t)


def test_srt_without_segment_times_lasts_until_the_next_part() -> None:
    # A pinned language: one segment per chunk, starting at the chunk, with no end.
    t = Transcript(
        segments=(Segment(0, 0, "first part"), Segment(600, 0, "second part")),
        billed_seconds=905,
        timestamps=False,
    )
    cues = list(srt.parse(render_srt(t)))
    assert [(c.start, c.end, c.content) for c in cues] == [
        (timedelta(0), timedelta(seconds=600), "first part"),
        (timedelta(seconds=600), timedelta(seconds=905), "second part"),
    ]


@pytest.mark.parametrize("limit", [100, 101])
def test_hard_split_keeps_combining_marks_and_zwj_sequences(limit: int) -> None:
    for unit in ("e\u0301", "👨‍👩‍👧"):
        text = unit * 300
        visible = [visible_text(m) for m in render_messages(make(text), limit=limit)]
        assert "".join(STAMP.sub("", v) for v in visible) == text
        for v in visible:
            assert utf16_len(v) <= limit
            body = STAMP.sub("", v)
            assert body.startswith(unit[0]) and body.endswith(unit[-1])


def test_tail_is_the_last_lines_that_fit_escaped() -> None:
    many = make(*(f"word{i} <{i}>" for i in range(2000)))
    tail = render_tail(many)
    assert utf16_len(html.unescape(tail)) <= LIMIT
    lines = html.unescape(tail).splitlines()
    assert lines[-1] == f"{format_timestamp(1999 * 5.0)} word1999 <1999>"
    assert lines == transcript_lines(many)[-len(lines) :]
    assert "&lt;1999&gt;" in tail
    assert render_tail(make("short")) == "0:00 short"
    assert render_tail(make()) == ""


def test_tail_of_one_line_longer_than_a_message_is_its_end() -> None:
    tail = render_tail(make("x" * 10_000))
    assert 0 < utf16_len(tail) <= LIMIT
    assert tail.endswith("x") and not tail.startswith("0:00")
