"""SQLite under load: a burst of 500 notes from 50 users, all served, no
database error, every user charged exactly what Mistral billed for their notes."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

import pytest

from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import expected_lines, transcript_of

USERS = 50
NOTES_EACH = 10


async def test_500_notes_from_50_users_in_one_burst(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    # One to three words a note, so users' bills differ.
    recordings = [media.voice_note(n) for n in (1, 2, 3)]
    users = [tg.user(5000 + n, f"B{n}") for n in range(USERS)]
    chats = [tg.private_chat(u) for u in users]
    # The fake Bot API does not enforce the overall 30 messages/s; lifting the bot's own
    # pacing keeps this about the database, not about waiting on the rate limiter.
    tuning = dataclasses.replace(FAST, overall_rate=0)
    async with run_bot(tuning=tuning):
        notes = []
        for round_ in range(NOTES_EACH):
            for n, (user, chat) in enumerate(zip(users, chats, strict=True)):
                data, words, total = recordings[(n + round_) % 3]
                note = tg.send_voice(chat, user, data, duration=round(total))
                notes.append((chat["id"], note["message_id"], words))
        pending = {(c, m) for c, m, _ in notes}
        seen = edits = 0

        def all_answered() -> bool:
            # Re-checked after every request: look at the 500 notes only once enough edits and
            # messages came (a transcript is a new message where its status message was not).
            nonlocal seen, edits
            fresh = tg.requests[seen:]
            seen += len(fresh)
            edits += sum(r.method in ("editMessageText", "sendMessage") for r in fresh)
            if edits >= len(pending):
                pending.difference_update([(c, m) for c, m in pending if transcript_of(tg, c, m)])
            return not pending

        await tg.wait_for(all_answered, timeout=240)
    for chat_id, message_id, words in notes:
        (reply,) = transcript_of(tg, chat_id, message_id) or []
        assert (reply.text or "").splitlines() == expected_lines(words, mistral.vocabulary)

    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR or "database" in r.getMessage().lower()
    ]
    assert problems == []
    with sqlite3.connect(db_path) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
        billed = dict(
            conn.execute("SELECT payer_id, SUM(billed_seconds) FROM jobs GROUP BY payer_id")
        )
        used = dict(conn.execute("SELECT user_id, SUM(used_seconds) FROM usage GROUP BY user_id"))
        reserved = conn.execute("SELECT SUM(reserved_seconds) FROM usage").fetchone()[0]
    assert statuses == {"done": USERS * NOTES_EACH}
    assert used == billed
    assert len(used) == USERS
    assert reserved == 0
    answered = [c for c in mistral.transcriptions if c.status == 200]
    assert len(answered) == USERS * NOTES_EACH
    assert sum(used.values()) == sum(c.billed_seconds for c in answered)
