"""Nothing lost, nothing charged twice: crashes, stops, downtime and duplicate updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import texts
from bot.transcription.mistral import MistralClient
from storage import jobs as storage_jobs
from storage import uploads
from storage.db import Database
from storage.job_rows import Job
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import (
    Db,
    answer_to,
    bot_env,
    bot_process,
    expected_lines,
    job_statuses,
    transcript_of,
    usage_row,
)
from tests.postgres import both_backends
from tests.test_health import health

pytestmark = both_backends


async def test_sigkill_mid_transcription_then_restart_transcribes_and_charges_once(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    # On PostgreSQL the killed process's job waits for its lease to run out.
    env = bot_env(tg, mistral, database, JOB_LEASE_SECONDS="3")
    data, words, total = media.voice_note(3)
    xena = tg.user(1400, "Xena")
    chat = tg.private_chat(xena)
    mistral.hang_next(30)
    async with bot_process(env, tmp_path) as first:
        note = tg.send_voice(chat, xena, data, duration=round(total))
        # Held by the fake (not merely arriving): the hang is spent on this run, not the next.
        await mistral.wait_for(lambda: mistral.hanging == 1)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    leftover = set(mistral.live_files)
    assert len(leftover) == 1  # uploaded, never deleted: the crash left it behind
    workdir = database.path.parent / "work"
    left = list(workdir.glob("*/*"))  # one folder per process, one per job inside
    assert [p.name.startswith("job") for p in left] == [True]  # and the audio

    async with bot_process(env, tmp_path) as second:
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: not mistral.live_files)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=20)
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert leftover <= set(mistral.deleted)
    # The new job cleaned up after itself; on SQLite (one process) the old folder was swept at
    # start, on PostgreSQL (replicas may share the volume) it goes once a day old.
    assert list(workdir.glob("*/*")) == ([] if database.backend == "sqlite" else left)
    billed = [c.billed_seconds for c in mistral.transcriptions if c.status == 200]
    assert len(billed) == 1
    assert usage_row(database, xena["id"]) == (billed[0], 0)
    assert job_statuses(database) == ["done"]


async def log_line(process: asyncio.subprocess.Process, text: str) -> None:
    """Read the bot's stderr until a line contains `text`."""

    async def scan() -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            if text in line.decode():
                return
        raise AssertionError(f"the bot exited without logging {text!r}")

    await asyncio.wait_for(scan(), timeout=30)


async def test_sigterm_lets_running_jobs_finish_and_leaves_the_queue_for_the_next_start(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    grace = 20
    env = bot_env(
        tg,
        mistral,
        database,
        MAX_CONCURRENT_TRANSCRIPTIONS="2",
        SHUTDOWN_GRACE_SECONDS=str(grace),
    )
    data, words, total = media.voice_note(2)
    users = [tg.user(1700 + n, f"S{n}") for n in range(7)]
    chats = [tg.private_chat(u) for u in users]
    mistral.hang_next(120, times=2)
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as first:
        notes = [
            tg.send_voice(c, u, data, duration=round(total))
            for c, u in zip(chats, users, strict=True)
        ]
        # Every note is accepted (its status message is out) and two are at Mistral.
        await tg.wait_for(
            lambda: all(
                tg.replies_to(c["id"], n["message_id"]) for c, n in zip(chats, notes, strict=True)
            )
        )
        await mistral.wait_for(lambda: mistral.hanging == 2)
        first.send_signal(signal.SIGTERM)
        await log_line(first, "waiting up to")  # stopped taking work, waiting for the two
        mistral.release_hangs()
        await asyncio.wait_for(first.communicate(), timeout=grace)
    assert first.returncode == 0
    finished = [
        n for c, n in zip(chats, notes, strict=True) if transcript_of(tg, c["id"], n["message_id"])
    ]
    assert len(finished) == 2
    assert len(mistral.transcriptions) == 2
    assert sorted(job_statuses(database)) == ["done"] * 2 + ["queued"] * 5

    async with bot_process(env, tmp_path) as second:
        for chat, note in zip(chats, notes, strict=True):
            replies = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            assert len(replies) == 1
            assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=grace)
    assert second.returncode == 0
    assert job_statuses(database) == ["done"] * 7
    assert len(mistral.transcriptions) == 7
    billed = mistral.transcriptions[0].billed_seconds
    for user in users:
        assert usage_row(database, user["id"]) == (billed, 0)


async def test_sigterm_ends_within_the_grace_even_when_mistral_answers_nothing(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    grace = 1
    env = bot_env(tg, mistral, database, SHUTDOWN_GRACE_SECONDS=str(grace))
    data, _, total = media.voice_note(2)
    vic = tg.user(1750, "Vic")
    chat = tg.private_chat(vic)
    mistral.hang_next(600)
    async with bot_process(env, tmp_path) as process:
        tg.send_voice(chat, vic, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)  # uploaded, being transcribed
        mistral.stop_answering()  # and from now on nothing is answered, deletes included
        process.send_signal(signal.SIGTERM)
        # The grace, plus the short try to delete the upload, plus stopping the process.
        await asyncio.wait_for(process.wait(), timeout=grace + 10)
    assert process.returncode == 0
    # The note waits for the next start, with no attempt counted, and so does its upload's
    # deletion: the id is recorded, the file still at Mistral.
    assert job_rows(database) == [("queued", 0)]
    assert recorded_uploads(database) == mistral.live_files
    assert len(mistral.live_files) == 1


async def test_sigint_stops_like_sigterm_and_keeps_the_queue(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    env = bot_env(
        tg, mistral, database, MAX_CONCURRENT_TRANSCRIPTIONS="1", SHUTDOWN_GRACE_SECONDS="0"
    )
    data, _, total = media.voice_note(2)
    users = [tg.user(1780 + n, f"I{n}") for n in range(2)]
    chats = [tg.private_chat(u) for u in users]
    mistral.hang_next(600)
    async with bot_process(env, tmp_path) as process:
        for chat, user in zip(chats, users, strict=True):
            tg.send_voice(chat, user, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)  # one running, one queued
        await tg.wait_for(lambda: all(tg.bot_messages(c["id"]) for c in chats))
        process.send_signal(signal.SIGINT)  # Ctrl-C in a terminal
        await asyncio.wait_for(process.wait(), timeout=20)
    assert process.returncode == 0
    assert job_rows(database) == [("queued", 0), ("queued", 0)]
    assert not mistral.live_files  # the cut-short job's upload was deleted on the way out


class HeldClaim:
    """Holds the bot's next claim of a job, after the database has handed the job over, until
    the runner's stop logs `release_at`: a claim still in flight when the stop reaches that
    step. (The only seam in these tests: real claims are too quick to catch midway.)"""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, release_at: str
    ) -> None:
        self.armed = False
        self.held = asyncio.Event()
        self.released = asyncio.Event()
        real = storage_jobs.claim_next

        async def claim_next(db: Database, *, per_chat: int, **lease: Any) -> Job | None:
            job = await real(db, per_chat=per_chat, **lease)
            if job is not None and self.armed:
                self.armed = False
                self.held.set()
                await self.released.wait()
            return job

        monkeypatch.setattr(storage_jobs, "claim_next", claim_next)
        released = self.released

        class Release(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if release_at in record.getMessage():
                    released.set()

        caplog.set_level(logging.INFO, logger="bot.jobs.runner")
        logger = logging.getLogger("bot.jobs.runner")
        monkeypatch.setattr(logger, "handlers", [*logger.handlers, Release()])


@pytest.mark.parametrize(
    "release_at",
    [
        "waiting up to",  # the claim ends while the stop waits for the running job
        "grace over",  # it ends only once the stop is cancelling what is left
    ],
)
async def test_a_job_claimed_during_the_stop_goes_back_to_the_queue(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    database: Db,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    release_at: str,
) -> None:
    data, words, total = media.voice_note(2)
    ann, bob = tg.user(1760, "Ann"), tg.user(1761, "Bob")
    ann_chat, bob_chat = tg.private_chat(ann), tg.private_chat(bob)
    claim = HeldClaim(monkeypatch, caplog, release_at)
    mistral.hang_next(60)
    async with run_bot(MAX_CONCURRENT_TRANSCRIPTIONS=2, SHUTDOWN_GRACE_SECONDS=1):
        ann_note = tg.send_voice(ann_chat, ann, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)  # Ann's job runs past the grace
        claim.armed = True
        bob_note = tg.send_voice(bob_chat, bob, data, duration=round(total))
        await asyncio.wait_for(claim.held.wait(), timeout=30)  # Bob's is being claimed
    # Neither job is left 'running', and a stop counts no attempt against either.
    assert job_rows(database) == [("queued", 0), ("queued", 0)]
    assert claim.released.is_set()
    assert len(mistral.transcriptions) == 1  # Ann's, cut short; Bob's was never started
    mistral.release_hangs()
    async with run_bot():
        for chat, note in ((ann_chat, ann_note), (bob_chat, bob_note)):
            replies = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert job_rows(database) == [("done", 1), ("done", 1)]


async def leave_uploads(mistral: FakeMistral, database: Db, folder: Path, count: int) -> set[str]:
    """As if a crash had left `count` uploads at Mistral: uploaded, their ids recorded."""
    track = folder / "left.ogg"
    track.write_bytes(media.voice_note(1)[0])
    client = MistralClient(mistral.base_url, mistral.api_key, "voxtral-mini-latest")
    db = database.open()
    await db.open()
    try:
        ids = {await client.upload(track) for _ in range(count)}
        for file_id in ids:
            await uploads.record_upload(db, file_id, None)
    finally:
        await db.close()
        await client.aclose()
    return ids


async def test_leftover_uploads_are_deleted_in_the_background_while_the_bot_answers(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db, tmp_path: Path
) -> None:
    leftovers = await leave_uploads(mistral, database, tmp_path, 2)
    wes = tg.user(1770, "Wes")
    chat = tg.private_chat(wes)
    mistral.stop_answering()  # a Mistral outage: the deletes hang
    async with asyncio.timeout(20), run_bot():
        # The first delete is held (the model check at start may be held too).
        await mistral.wait_for(lambda: any(method == "DELETE" for method, _ in mistral.requests))
        command = tg.send_text(chat, wes, "/help")
        await tg.wait_for(lambda: answer_to(tg, chat["id"], command["message_id"]))
        if database.backend == "sqlite":  # `voxgram health` reads the SQLite file only
            code, said = await health(database.path)
            assert code == 0, said
    assert recorded_uploads(database) == leftovers  # not deleted: kept for the next start
    mistral.answer_again()
    async with run_bot():
        await tg.wait_for(lambda: not recorded_uploads(database))
    assert not leftovers & mistral.live_files
    assert leftovers <= set(mistral.deleted)


async def test_notes_sent_while_stopped_are_transcribed_at_start(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(2)
    users = [tg.user(1500 + n, f"U{n}") for n in range(3)]
    chats = [tg.private_chat(u) for u in users]
    notes = [
        tg.send_voice(c, u, data, duration=round(total)) for c, u in zip(chats, users, strict=True)
    ]
    async with run_bot():
        for chat, note in zip(chats, notes, strict=True):
            replies = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(mistral.transcriptions) == 3


async def test_a_duplicated_update_makes_one_job_and_one_charge(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _, total = media.voice_note(2)
    yan = tg.user(1600, "Yan")
    chat = tg.private_chat(yan)
    async with run_bot():
        note = tg.send_voice(chat, yan, data, duration=round(total))
        tg.push_update(message=note)  # the same message in a second update
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        tg.push_update(message=note)  # and again after it was transcribed
        cmd = tg.send_text(chat, yan, "/usage")
        await tg.wait_for(
            lambda: [m for m in tg.bot_messages(chat["id"]) if m.message_id > cmd["message_id"]]
        )
    assert len(replies) == 1
    assert len(mistral.transcriptions) == 1
    assert len(tg.replies_to(chat["id"], note["message_id"])) == 1
    assert job_statuses(database) == ["done"]
    assert usage_row(database, yan["id"]) == (mistral.transcriptions[0].billed_seconds, 0)


async def test_a_job_that_keeps_ending_the_process_is_given_up(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _, total = media.voice_note(2)
    zed = tg.user(1650, "Zed")
    chat = tg.private_chat(zed)
    mistral.hang_next(60)
    async with run_bot(SHUTDOWN_GRACE_SECONDS=0):
        note = tg.send_voice(chat, zed, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)
    # A stop is not the job's fault: it goes back to the queue with no attempt counted.
    assert job_rows(database) == [("queued", 0)]
    # As if three runs had each died while working on it.
    database.rows("UPDATE jobs SET attempts = 3")
    mistral.release_hangs()
    async with run_bot():
        # The status message the first run sent now says the note failed.
        (status,) = tg.replies_to(chat["id"], note["message_id"])
        await tg.wait_for(lambda: status.text == texts.FAILED)
    assert job_rows(database) == [("failed", 4)]
    assert len(mistral.transcriptions) == 1  # the one the first run began, nothing more
    assert usage_row(database, zed["id"]) == (0, 0)


def job_rows(database: Db) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in database.rows("SELECT status, attempts FROM jobs ORDER BY id")]


def recorded_uploads(database: Db) -> set[str]:
    """Mistral file ids the bot recorded and has not seen deleted yet."""
    return {r[0] for r in database.rows("SELECT file_id FROM mistral_files")}


@pytest.mark.parametrize("retention", [24, 0])
async def test_a_restart_after_the_reply_resends_it_and_charges_nothing_more(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db, retention: int
) -> None:
    data, words, total = media.voice_note(3)
    uma = tg.user(1660, "Uma")
    chat = tg.private_chat(uma)
    async with run_bot(TRANSCRIPT_RETENTION_HOURS=retention):
        note = tg.send_voice(chat, uma, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    charged = usage_row(database, uma["id"])
    assert charged[0] > 0
    # As if the process had died after the reply was sent but before the job was marked done.
    database.rows("UPDATE jobs SET status = 'running'")
    edits_before = len(tg.calls("editMessageText"))
    async with run_bot(TRANSCRIPT_RETENTION_HOURS=retention):
        await tg.wait_for(lambda: job_statuses(database) == ["done"])
    (status,) = tg.replies_to(chat["id"], note["message_id"])
    assert (status.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(tg.calls("editMessageText")) > edits_before  # the reply was sent again
    assert usage_row(database, uma["id"]) == charged  # …and not charged again
    # With the transcript retained, Mistral is not paid twice; without, it must hear it again.
    assert len(mistral.transcriptions) == (1 if retention else 2)


def confirmed_past(tg: FakeTelegram, update_id: int) -> bool:
    """Whether the bot has told Telegram it handled `update_id`: a later getUpdates offset."""
    return any(int(c.params.get("offset") or 0) > update_id for c in tg.calls("getUpdates"))


async def test_sigkill_before_the_job_row_is_written_keeps_the_update_for_the_restart(
    tg: FakeTelegram, mistral: FakeMistral, db_path: Path, tmp_path: Path, backend: str
) -> None:
    if backend == "postgres":
        pytest.skip("holds SQLite's own write lock: a SQLite test")
    env = bot_env(tg, mistral, db_path)
    data, words, total = media.voice_note(2)
    wes = tg.user(1450, "Wes")
    chat = tg.private_chat(wes)
    async with bot_process(env, tmp_path) as first:
        await tg.wait_for(lambda: tg.calls("getUpdates"))  # started: the database exists
        # Another process holds SQLite's write lock: the handler waits to write the job row.
        lock = sqlite3.connect(db_path, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            note = tg.send_voice(chat, wes, data, duration=round(total))
            update_id = tg.last_update_id
            # The pending long poll returns the update at once; then time enough for a poller
            # that confirms before its handlers finish to do so.
            with contextlib.suppress(AssertionError):
                await tg.wait_for(lambda: confirmed_past(tg, update_id), timeout=3)
            confirmed = confirmed_past(tg, update_id)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        finally:
            lock.rollback()
            lock.close()
    assert job_statuses(db_path) == []
    assert not confirmed, "Telegram was told the update was handled before its job row existed"

    async with bot_process(env, tmp_path) as second:
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=20)
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert job_statuses(db_path) == ["done"]
