"""The runs the benchmark makes; each starts its own fakes and a fresh bot process.

Times come from the fakes' records, on this process's monotonic clock: when an update was
pushed into the fake's getUpdates queue, when the bot's transcript arrived (a sendMessage replying
to the note, or the editMessageText that turns a status message into the transcript) or its
last message, and how long the fake Mistral spent on each file (upload, signed URL,
transcription, deletion).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from bench.audio import Note
from bench.world import VOXGRAM, World, world
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram

NoteKey = tuple[int, int]  # (chat id, message id of the voice note)
DELIVERIES = frozenset({"sendMessage", "editMessageText", "sendDocument"})
# Telegram lets a bot send about 30 messages a second (edits and drafts aside).
MESSAGES_PER_SECOND = 30
# Methods that leave a message in the chat but whose name does not start with "send".
PERSISTENT_OTHERS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})
# Sends that leave nothing behind: a chat action, a draft being typed.
TRANSIENT_SENDS = frozenset({"sendChatAction", "sendMessageDraft"})
# What concurrent_updates(True) means in python-telegram-bot: 256 updates handled at once.
NAIVE_CONCURRENCY = 256
# After a lone note's transcript, how long to wait for the bot's last calls about it.
SETTLE_SECONDS = 0.5


def persistent(method: str) -> bool:
    """Whether a Bot API call leaves a message in the chat (sendMessage, sendDocument, …), as
    opposed to an edit, a draft or a chat action."""
    if method in TRANSIENT_SENDS:
        return False
    return method.startswith("send") or method in PERSISTENT_OTHERS


@dataclass
class Run:
    """What one run of short notes measured."""

    notes: int
    users: int
    concurrency: int
    latency: float
    makespan: float  # first update pushed → last transcript sent, s
    latencies: list[float]  # per note: update pushed → transcript sent, s
    overheads: list[float]  # per note: that minus the fake Mistral's time on it, s
    cpu_seconds: float  # the bot's, from the first update to the last transcript
    ready_rss: int  # bytes, once polling
    peak_rss: int  # bytes, the most the bot ever held
    max_in_flight: int  # transcription requests at the fake Mistral at once, at most
    note_bytes: int  # size of one note (the first)
    bot: str = VOXGRAM  # the module run: "bot" or "bench.naive"
    database: str = "sqlite"  # Voxgram's: "sqlite" or "postgresql" (DATABASE_URL)
    calls: dict[str, int] = field(default_factory=dict)  # Bot API calls by method, polls aside
    # Bot API calls by method for one short note sent alone to an idle bot (steady runs only)
    calls_per_note: dict[str, int] = field(default_factory=dict)

    @property
    def ideal(self) -> float:
        """ceil(N/C)·L: the makespan if only Mistral took time."""
        return math.ceil(self.notes / self.concurrency) * self.latency

    @property
    def persistent_messages(self) -> int:
        """Messages the bot left in the chats during the run (not edits, drafts or actions)."""
        return sum(n for method, n in self.calls.items() if persistent(method))

    @property
    def bound(self) -> float:
        """max(ceil(N/C)·L, persistent messages ÷ 30 per s): neither Mistral nor Telegram's
        pacing of messages lets the run end sooner."""
        return max(self.ideal, self.persistent_messages / MESSAGES_PER_SECOND)


@dataclass
class LongRun:
    """One big or long recording sent once."""

    seconds: float
    file_bytes: int
    chunk_seconds: int
    makespan: float  # update pushed → last message of the transcript sent, s
    cpu_seconds: float
    ready_rss: int
    peak_rss: int
    requests: int  # successful transcription requests (chunks)
    words_sent: int
    words_heard: int  # over all those requests
    status: str  # the job's, in the bot's SQLite file


@dataclass
class Transcripts:
    """Finds, as requests arrive, the edit that turns a note's status message into its transcript.

    An edit counts only if it holds every word of its note, so a wrong transcript never ends a run.
    """

    tg: FakeTelegram
    notes: dict[NoteKey, Note] = field(default_factory=dict)
    pushed: dict[NoteKey, float] = field(default_factory=dict)
    arrived: dict[NoteKey, float] = field(default_factory=dict)
    _seen: int = 0

    def send(self, user: dict[str, Any], chat: dict[str, Any], note: Note) -> NoteKey:
        message = self.tg.send_voice(chat, user, note.data, duration=max(1, round(note.seconds)))
        key = (chat["id"], message["message_id"])
        self.pushed[key] = time.monotonic()  # send_voice pushes the update as its last step
        self.notes[key] = note
        return key

    def scan(self) -> None:
        requests = self.tg.requests
        while self._seen < len(requests):
            request = requests[self._seen]
            self._seen += 1
            if request.method == "editMessageText":
                key = self._note_of_status(int(request.params["chat_id"]), request.params)
            elif request.method == "sendMessage":
                key = self._note_replied_to(request.params)
            else:
                continue
            if key is None or key in self.arrived:
                continue
            text = str(request.params.get("text", ""))
            if all(word in text for word in self.notes[key].words):
                self.arrived[key] = request.at

    def _note_of_status(self, chat_id: int, params: dict[str, Any]) -> NoteKey | None:
        message_id = int(params["message_id"])
        for message in self.tg.bot_messages(chat_id):
            if message.message_id == message_id and message.reply_to_message_id is not None:
                key = (chat_id, message.reply_to_message_id)
                return key if key in self.notes else None
        return None

    def _note_replied_to(self, params: dict[str, Any]) -> NoteKey | None:
        """The note a sendMessage replies to (the naive bot's transcript), if it is one."""
        reply = params.get("reply_parameters")
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        if message_id is None:
            message_id = params.get("reply_to_message_id")
        if message_id is None:
            return None
        key = (int(params["chat_id"]), int(message_id))
        return key if key in self.notes else None

    def complete(self) -> bool:
        self.scan()
        return len(self.arrived) == len(self.notes)

    def has(self, key: NoteKey) -> bool:
        self.scan()
        return key in self.arrived


def mistral_seconds(mistral: FakeMistral, transcripts: Transcripts) -> dict[NoteKey, float]:
    """The fake Mistral's time on each note between its update and its transcript: its file's
    upload, URL, transcription (and deletion, if the bot waited for it).

    Only the part of a request inside that window counts, so a deletion made after the
    transcript (Voxgram's, in the background; the naive bot makes none) is not taken off the
    note's time. A note is found by the words the fake heard in it; notes whose words others
    share too are left out (their time cannot be told apart).
    """
    by_text: dict[str, list[NoteKey]] = defaultdict(list)
    for key, note in transcripts.notes.items():
        by_text[note.text].append(key)
    note_of_file: dict[str, NoteKey] = {}
    for call in mistral.transcriptions:
        if call.status != 200 or call.response is None or call.file_id is None:
            continue
        keys = by_text.get(str(call.response["text"]), [])
        if len(keys) == 1 and keys[0] in transcripts.arrived:
            note_of_file[call.file_id] = keys[0]
    seconds = dict.fromkeys(note_of_file.values(), 0.0)
    for span in mistral.spans:
        found = note_of_file.get(span.file_id) if span.file_id is not None else None
        if found is None:
            continue
        key = found
        start = max(span.start, transcripts.pushed[key])
        end = min(span.end, transcripts.arrived[key])
        seconds[key] += max(0.0, end - start)
    return seconds


def _timeout(notes: int, concurrency: int, latency: float) -> float:
    return 5 * math.ceil(notes / concurrency) * (latency + 0.5) + 60


def _run(
    w: World,
    transcripts: Transcripts,
    *,
    bot: str,
    users: int,
    concurrency: int,
    latency: float,
    ready: float,
    ready_rss: int,
    first_request: int,
) -> Run:
    used = w.usage()
    spent = mistral_seconds(w.mistral, transcripts)
    keys = list(transcripts.notes)
    latencies = [transcripts.arrived[k] - transcripts.pushed[k] for k in keys]
    overheads = [
        transcripts.arrived[k] - transcripts.pushed[k] - spent[k] for k in keys if k in spent
    ]
    first = min(transcripts.pushed.values())
    return Run(
        notes=len(keys),
        users=users,
        concurrency=concurrency,
        latency=latency,
        makespan=max(transcripts.arrived.values()) - first,
        latencies=latencies,
        overheads=overheads,
        cpu_seconds=used.cpu_seconds - ready,
        ready_rss=ready_rss,
        peak_rss=used.peak_rss,
        max_in_flight=w.mistral.max_in_flight,
        note_bytes=len(transcripts.notes[keys[0]].data),
        bot=bot,
        calls=calls_since(w, first_request),
    )


def calls_since(w: World, first: int) -> dict[str, int]:
    """Bot API calls by method from request number `first` on, long polls aside."""
    counts = Counter(r.method for r in w.tg.requests[first:] if r.method != "getUpdates")
    return dict(sorted(counts.items()))


def _world(
    bot: str, latency: float, concurrency: int, database_url: str = ""
) -> AbstractAsyncContextManager[World]:
    """A world running `bot`: Voxgram with its default settings but C (live transcripts on), on
    SQLite or on the PostgreSQL database at `database_url`; or the naive bot
    (which has no settings)."""
    if bot == VOXGRAM:
        return world(
            latency=latency, database_url=database_url, MAX_CONCURRENT_TRANSCRIPTIONS=concurrency
        )
    return world(latency=latency, module=bot)


async def burst(
    notes: Sequence[Note],
    *,
    users: int,
    latency: float,
    concurrency: int,
    hold: float = 0.0,
    bot: str = VOXGRAM,
) -> Run:
    """All notes at once, from `users` users in their private chats (note i from user i mod M).

    `hold` keeps each transcription request waiting that long at the fake Mistral before it
    decodes, so that all notes are in flight together (for the memory figure). `bot` is the
    module run (the naive bot takes every note at once: give it NAIVE_CONCURRENCY).
    """
    async with _world(bot, latency, concurrency) as w:
        if hold:
            w.mistral.hang_next(hold, times=len(notes))
        people = w.users(min(users, len(notes)))
        transcripts = Transcripts(w.tg)
        ready = w.usage()
        first_request = len(w.tg.requests)
        for i, note in enumerate(notes):
            user, chat = people[i % len(people)]
            transcripts.send(user, chat, note)
        await w.tg.wait_for(
            transcripts.complete, timeout=_timeout(len(notes), concurrency, latency)
        )
        return _run(
            w,
            transcripts,
            bot=bot,
            users=len(people),
            concurrency=concurrency,
            latency=latency,
            ready=ready.cpu_seconds,
            ready_rss=ready.rss,
            first_request=first_request,
        )


async def lone_note_calls(
    w: World, user: dict[str, Any], chat: dict[str, Any], note: Note, wait: float
) -> dict[str, int]:
    """One short note sent alone: the Bot API calls it took, by method, polls aside.

    Counted from the update to SETTLE_SECONDS after the transcript, so that calls the bot makes
    once the transcript is out (a keyboard, a cleanup) are counted too.
    """
    first = len(w.tg.requests)
    transcripts = Transcripts(w.tg)
    transcripts.send(user, chat, note)
    await w.tg.wait_for(transcripts.complete, timeout=wait)
    await asyncio.sleep(SETTLE_SECONDS)
    return calls_since(w, first)


async def steady(
    notes: Sequence[Note],
    *,
    senders: int,
    latency: float,
    concurrency: int,
    bot: str = VOXGRAM,
    database_url: str = "",
) -> Run:
    """`senders` users each send their next note as soon as the last one's transcript is in.

    With fewer senders than slots no note waits for one, so what a note takes beyond Mistral's
    time is the bot's own overhead, under steady load. First one note is sent alone to the idle
    bot, to count the Bot API calls a short note takes (Run.calls_per_note); then a round of one
    note per sender warms the bot up (connections, thread pools, caches). Neither is counted in
    the overhead. The senders then start L/senders apart, so notes arrive spread out as different
    people's do, not in lockstep (simultaneous notes are what the burst measures). Voxgram keeps
    its data in SQLite, or in PostgreSQL when given `database_url`.
    """
    async with _world(bot, latency, concurrency, database_url) as w:
        people = w.users(senders)
        each = _timeout(1, 1, latency)
        user, chat = people[0]
        lone = await lone_note_calls(w, user, chat, notes[-senders - 1], each)
        warm_up = Transcripts(w.tg)
        for (user, chat), note in zip(people, notes[-senders:], strict=True):
            warm_up.send(user, chat, note)
        await w.tg.wait_for(warm_up.complete, timeout=each)
        transcripts = Transcripts(w.tg)
        ready = w.usage()
        first_request = len(w.tg.requests)

        async def sender(n: int) -> None:
            user, chat = people[n]
            await asyncio.sleep(n * latency / senders)
            for note in notes[n : len(notes) - senders - 1 : senders]:
                key = transcripts.send(user, chat, note)
                await w.tg.wait_for(functools.partial(transcripts.has, key), timeout=each)

        await asyncio.gather(*(sender(n) for n in range(senders)))
        run = _run(
            w,
            transcripts,
            bot=bot,
            users=senders,
            concurrency=concurrency,
            latency=latency,
            ready=ready.cpu_seconds,
            ready_rss=ready.rss,
            first_request=first_request,
        )
        run.calls_per_note = lone
        if database_url:
            run.database = "postgresql"
        return run


async def recording(
    data: bytes,
    *,
    seconds: float,
    words: int,
    latency: float,
    latency_per_audio_second: float,
    concurrency: int,
    chunk_seconds: int,
) -> LongRun:
    """One WAV recording sent as an audio file, with a local Bot API server (no 20 MB limit)."""
    async with world(
        latency=latency,
        latency_per_audio_second=latency_per_audio_second,
        local_mode=True,
        MAX_CONCURRENT_TRANSCRIPTIONS=concurrency,
        CHUNK_SECONDS=chunk_seconds,
    ) as w:
        [(user, chat)] = w.users(1)
        ready = w.usage()
        w.tg.send_audio(
            chat,
            user,
            data,
            duration=max(1, round(seconds)),
            file_name="recording.wav",
            mime_type="audio/wav",
        )
        pushed = time.monotonic()
        timeout = 5 * (latency + latency_per_audio_second * seconds) + seconds / 10 + 120
        [status] = await w.wait_jobs_finished(1, timeout)
        used = w.usage()
        sent = [
            r.at
            for r in w.tg.requests
            if r.method in DELIVERIES and r.params.get("chat_id") == chat["id"]
        ]
        calls = [c for c in w.mistral.transcriptions if c.status == 200 and c.response]
        return LongRun(
            seconds=seconds,
            file_bytes=len(data),
            chunk_seconds=chunk_seconds,
            makespan=max(sent) - pushed,
            cpu_seconds=used.cpu_seconds - ready.cpu_seconds,
            ready_rss=ready.rss,
            peak_rss=used.peak_rss,
            requests=len(calls),
            words_sent=words,
            words_heard=sum(len((c.response or {}).get("segments", [])) for c in calls),
            status=status,
        )
