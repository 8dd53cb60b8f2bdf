"""Live transcripts: the run that times a note's first words in a draft, with the bot's defaults.

With LIVE_TRANSCRIPTS on (the default) a note in a private chat gets no status message: while
Mistral streams (`stream=true`) the bot shows the lines so far as a draft (sendMessageDraft,
first an empty "thinking" placeholder), then sends the transcript as a new message replying to
the note. The fake Mistral answers at once and streams one word per segment: the first after
`first_segment` seconds, each next one `gap` seconds later.

Times come from the fakes' records, as in bench/scenarios.py: when the update was pushed, when
the fake Telegram received each draft (Draft.at) and the transcript's sendMessage, when the
transcription request reached the fake Mistral (its span's start).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.audio import Note
from bench.scenarios import (
    SETTLE_SECONDS,
    NoteKey,
    Transcripts,
    calls_since,
    lone_note_calls,
    persistent,
)
from bench.world import World, world
from tests.fakes.telegram import Draft

TRANSCRIPTIONS = "POST /v1/audio/transcriptions"  # the fake Mistral's route, as its spans name it


@dataclass
class LiveRun:
    """What the live run measured, per timed note (the lone first note is not timed)."""

    notes: int
    users: int
    first_segment: float  # s from the transcription request to the first streamed segment
    gap: float  # s between two streamed segments
    to_request: list[float]  # update → transcription request at the fake Mistral, s
    placeholders: list[float]  # update → the first draft (the empty "thinking" one), s
    first_words: list[float]  # update → first draft showing words (else the transcript), s
    finals: list[float]  # update → the transcript's sendMessage, s
    drafts: list[int]  # drafts per note, the placeholder included
    worded: int  # notes whose words showed in a draft before the transcript came
    streamed: int  # transcription requests the fake Mistral answered as a stream
    calls: dict[str, int] = field(default_factory=dict)  # Bot API calls of the timed notes
    calls_per_note: dict[str, int] = field(default_factory=dict)  # one note alone, idle bot

    @property
    def after_first_segment(self) -> list[float]:
        """Per note: update → first words, minus the configured first-segment delay, s."""
        return [t - self.first_segment for t in self.first_words]

    @property
    def persistent_per_note(self) -> int:
        """Messages one short note left in its chat (not drafts, edits or chat actions)."""
        return sum(n for method, n in self.calls_per_note.items() if persistent(method))


@dataclass
class _Sent:
    """A timed note as sent: its chat and the draft ids the chat had seen before it."""

    chat_id: int
    earlier_drafts: frozenset[int]


def _timeout(first_segment: float, gap: float, words: int) -> float:
    return 5 * (first_segment + gap * words) + 60


def _drafts_of(w: World, sent: _Sent, pushed: float) -> list[Draft]:
    """The note's drafts: those under the draft id (its job's) of the first draft its chat saw
    after its update under an id not seen before it (later notes of the chat have others)."""
    new = [
        d
        for d in w.tg.drafts_in(sent.chat_id)
        if d.draft_id not in sent.earlier_drafts and d.at >= pushed
    ]
    return [d for d in new if d.draft_id == new[0].draft_id] if new else []


def _request_at(w: World, pushed: float, arrived: float) -> float:
    """When the note's transcription request reached the fake Mistral: notes go one at a time,
    so it is the one that started between the note's update and its transcript."""
    starts = [
        s.start
        for s in w.mistral.spans
        if s.route == TRANSCRIPTIONS and pushed <= s.start <= arrived
    ]
    if not starts:
        raise RuntimeError("no transcription request between a note's update and its transcript")
    return min(starts)


async def live(notes: Sequence[Note], *, users: int, first_segment: float, gap: float) -> LiveRun:
    """`notes[0]` alone to the idle bot (its Bot API calls counted, a warm-up too), then the
    others one at a time, from `users` users in turn in their private chats: each is sent
    SETTLE_SECONDS after the last one's transcript, so no note's drafts meet another's."""
    async with world(latency=0.0, LIVE_TRANSCRIPTS="true") as w:
        w.mistral.stream_first_delay = first_segment
        w.mistral.stream_gap = gap
        people = w.users(users)
        wait = _timeout(first_segment, gap, max(len(n.words) for n in notes))
        user, chat = people[0]
        lone = await lone_note_calls(w, user, chat, notes[0], wait)
        transcripts = Transcripts(w.tg)
        sent: dict[NoteKey, _Sent] = {}
        first_request = len(w.tg.requests)
        for i, note in enumerate(notes[1:], start=1):
            user, chat = people[i % len(people)]
            earlier = frozenset(d.draft_id for d in w.tg.drafts_in(chat["id"]))
            key = transcripts.send(user, chat, note)
            sent[key] = _Sent(chat["id"], earlier)
            await w.tg.wait_for(functools.partial(transcripts.has, key), timeout=wait)
            await asyncio.sleep(SETTLE_SECONDS)
        return _measure(w, transcripts, sent, lone, first_request, users, first_segment, gap)


def _measure(
    w: World,
    transcripts: Transcripts,
    sent: dict[NoteKey, _Sent],
    lone: dict[str, int],
    first_request: int,
    users: int,
    first_segment: float,
    gap: float,
) -> LiveRun:
    to_request, placeholders, first_words, finals, drafts = [], [], [], [], []
    worded = 0
    for key, note in transcripts.notes.items():
        pushed, arrived = transcripts.pushed[key], transcripts.arrived[key]
        mine = _drafts_of(w, sent[key], pushed)
        shown = [d.at for d in mine if d.text and note.words[0] in d.text and d.at <= arrived]
        worded += bool(shown)
        placeholders.append((mine[0].at if mine else arrived) - pushed)
        first_words.append((shown[0] if shown else arrived) - pushed)
        finals.append(arrived - pushed)
        drafts.append(len(mine))
        to_request.append(_request_at(w, pushed, arrived) - pushed)
    return LiveRun(
        notes=len(transcripts.notes),
        users=users,
        first_segment=first_segment,
        gap=gap,
        to_request=to_request,
        placeholders=placeholders,
        first_words=first_words,
        finals=finals,
        drafts=drafts,
        worded=worded,
        streamed=sum(1 for c in w.mistral.transcriptions if c.stream and c.status == 200),
        calls=calls_since(w, first_request),
        calls_per_note=lone,
    )
