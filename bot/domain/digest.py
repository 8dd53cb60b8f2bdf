"""Summaries and translations of a transcript: the prompts, the parts a long one is sent in,
and the translated lines paired back with their times. No I/O."""

from __future__ import annotations

import re

Messages = list[dict[str, str]]

BUDGET = 24_000
"""Characters of transcript in one chat request: far below the 32k-token context of
mistral-small, with room for the instructions and the answer."""

_STAMP = re.compile(r"(.{0,8}?)\(?((?:\d+:)?\d{1,2}:\d{2})(?![\d:])\)?[ \t]*")
"""A time near the start of an answer line, what stands before it kept ("[de] 0:05 Hallo")."""


def parts(lines: list[str], budget: int = BUDGET, *, cut: bool = True) -> list[list[str]]:
    """The lines in consecutive parts of at most `budget` characters (newlines included); a
    line longer than that is cut into pieces at spaces where it can be (`cut`), else alone."""
    pieces: list[str] = []
    for line in lines:
        while cut and len(line) > budget:
            space = line.rfind(" ", 1, budget + 1)
            at = space if space > 0 else budget
            pieces.append(line[:at])
            line = line[at:].lstrip()
        pieces.append(line)
    result: list[list[str]] = []
    size = 0
    for piece in pieces:
        if result and size + 1 + len(piece) <= budget:
            result[-1].append(piece)
            size += 1 + len(piece)
        else:
            result.append([piece])
            size = len(piece)
    return result


def summary_prompt(text: str, language: str) -> Messages:
    """Ask for a few lines about one transcript (or one part of it), in `language`."""
    system = (
        "You summarize transcripts of voice notes. Summarize the transcript the user sends in "
        f"a few short lines (at most five), written in {language}, whatever its own language. "
        "Keep names, numbers, dates and decisions. Answer with the summary only."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def combined_prompt(summaries: list[str], language: str) -> Messages:
    """Ask for one summary of the summaries of a long transcript's consecutive parts."""
    system = (
        "The user sends summaries of consecutive parts of one voice note transcript. Summarize "
        f"them as a whole in a few short lines (at most five), written in {language}. Answer "
        "with the summary only."
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n\n".join(summaries)},
    ]


def translation_prompt(lines: list[str], language: str) -> Messages:
    """Ask for `lines` ("m:ss text") in `language`, one line each, their times kept."""
    system = (
        f"Translate the transcript the user sends into {language}. Each line starts with a "
        "time such as 0:05 or 1:02:03: keep that time unchanged at the start of the line and "
        f"translate the text after it. Answer with exactly {len(lines)} lines, one for each "
        "line sent, in the same order, and nothing else."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def paired(lines: list[str], answer: str) -> list[str]:
    """The translated text of each of `lines` ("m:ss text"), their times dropped.

    An answer of one line per line sent is taken line by line. Otherwise its lines go to the
    line sent with the time they start with, lines without a time joining the one before; an
    answer without any of the times is paired with the lines sent in order. A line sent that
    no answer line matches keeps its own text; extra answer lines join the last."""
    got = [line.strip() for line in answer.splitlines() if line.strip()]
    stamps = [line.split(" ", 1)[0] for line in lines]
    originals = [line[len(stamp) :].strip() for line, stamp in zip(lines, stamps, strict=True)]
    if len(got) != len(lines):
        by_time = _by_time(stamps, originals, got)
        if by_time is not None:
            return by_time
    texts = [_without_stamp(g, s) for g, s in zip(got, stamps, strict=False)]
    texts += originals[len(texts) :]
    if len(got) > len(lines) and texts:
        texts[-1] = " ".join([texts[-1], *got[len(lines) :]])
    return texts


def _by_time(stamps: list[str], originals: list[str], got: list[str]) -> list[str] | None:
    """Answer lines placed by the time each starts with; None when none starts with one."""
    placed: list[list[str]] = [[] for _ in stamps]
    at, found = 0, False
    for line in got:
        match = _STAMP.match(line)
        if match and match[2] in stamps[at:]:
            at, found = stamps.index(match[2], at), True
            line = f"{match[1]} {line[match.end() :]}"
        placed[at].append(" ".join(line.split()))
    if not found:
        return None
    return [" ".join(p) if p else o for p, o in zip(placed, originals, strict=True)]


def _without_stamp(line: str, stamp: str) -> str:
    """The answer line without the time it repeats, wherever near its start it stands."""
    match = _STAMP.match(line)
    if match and match[2] == stamp:
        return " ".join(f"{match[1]} {line[match.end() :]}".split())
    return line
