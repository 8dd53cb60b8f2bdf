"""Replicas on one PostgreSQL database: `python -m bot` receiving updates and `python -m bot
worker` running jobs beside it; notes split between them are transcribed and charged once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, bot_env, expected_lines, job_statuses, transcript_of, usage_row
from tests.postgres import PostgresServer
from tests.test_health import health

postgres_only = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

STARTED = "voxgram started"


@asynccontextmanager
async def replica(
    env: dict[str, str], cwd: Path, log: Path, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot [args]` logging to `log`, started (its workers run) when this yields;
    killed on the way out if still running."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, env=env, cwd=cwd, stderr=out
        )
    try:
        await logged(log, STARTED, process)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def logged(log: Path, text: str, process: asyncio.subprocess.Process) -> None:
    """Wait until the process has written a line holding `text` to `log`."""
    async with asyncio.timeout(60):
        while text not in read(log):
            if process.returncode is not None:
                raise AssertionError(f"exited before logging {text!r}: {read(log)}")
            await asyncio.sleep(0.05)


def read(log: Path) -> str:
    return log.read_text(errors="replace")


@asynccontextmanager
async def two_replicas(
    env: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, asyncio.subprocess.Process]]:
    """One poller and one worker on the same database."""
    async with (
        replica(env, tmp_path, tmp_path / "poller.log") as poller,
        replica(env, tmp_path, tmp_path / "worker.log", "worker") as worker,
    ):
        yield poller, worker


def distinct_downloads(tg: FakeTelegram) -> int:
    return len({call.params.get("file_id") for call in tg.calls("getFile")})


@postgres_only
async def test_a_burst_split_between_two_replicas_is_transcribed_and_charged_once(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    # Four workers per replica: eight downloads under way at once means both are working.
    env = bot_env(tg, mistral, database, MAX_CONCURRENT_TRANSCRIPTIONS="1")
    data, _, total = media.voice_note(2)
    users = [tg.user(5100 + n, f"R{n}") for n in range(8)]
    chats = [tg.private_chat(u) for u in users]
    async with two_replicas(env, tmp_path) as (poller, worker):
        # Each counts the other and paces itself at half of Telegram's limits for the bot.
        await logged(tmp_path / "poller.log", "replicas=2", poller)
        await logged(tmp_path / "worker.log", "replicas=2", worker)
        tg.hold("getFile")
        notes = [
            tg.send_voice(c, u, data, duration=round(total))
            for c, u in zip(chats, users, strict=True)
        ]
        await tg.wait_for(lambda: distinct_downloads(tg) == len(notes))
        tg.release("getFile")
        await tg.wait_for(lambda: job_statuses(database) == ["done"] * len(notes))
    for chat, note in zip(chats, notes, strict=True):
        assert transcript_of(tg, chat["id"], note["message_id"])
        assert len(tg.replies_to(chat["id"], note["message_id"])) == 1
    assert len(mistral.transcriptions) == len(notes)
    billed = mistral.transcriptions[0].billed_seconds
    for user in users:
        assert usage_row(database, user["id"]) == (billed, 0)


@postgres_only
async def test_a_quota_race_across_two_replicas_never_overspends(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    # Each note is 3.3 s but declared 1 s: the real length is held once downloaded, by both
    # replicas at once (eight groups, four workers each). A 12 s quota fits three at most.
    data, _, total = media.voice_note(3)
    assert 3 < total <= 4
    env = bot_env(
        tg, mistral, database, MAX_CONCURRENT_TRANSCRIPTIONS="1", DEFAULT_QUOTA_SECONDS="12"
    )
    erin = tg.user(5200, "Erin")
    groups = [tg.group_chat(-1005200 - n, f"G{n}") for n in range(8)]
    async with two_replicas(env, tmp_path):
        tg.hold("getFile")
        notes = [tg.send_voice(group, erin, data, duration=1) for group in groups]
        await tg.wait_for(lambda: distinct_downloads(tg) == len(notes))
        tg.release("getFile")

        def ended() -> bool:
            statuses = job_statuses(database)
            return len(statuses) == len(notes) and set(statuses) <= {"done", "failed"}

        await tg.wait_for(ended)
    # How many fit depends on when the refused ones give their 1 s back; never more than 12 s.
    done = job_statuses(database).count("done")
    assert 1 <= done <= 3
    assert len(mistral.transcriptions) == done
    billed = sum(c.billed_seconds for c in mistral.transcriptions)
    assert billed <= 12
    assert usage_row(database, erin["id"]) == (billed, 0)


def holder_pid(database: Db) -> int:
    """The pid of the process whose lease the running job is under (owner host:pid:token)."""
    ((owner,),) = database.rows("SELECT lease_owner FROM jobs WHERE status = 'running'")
    return int(str(owner).split(":")[1])


@postgres_only
async def test_a_replica_killed_mid_job_loses_it_to_the_other_after_the_lease(
    tg: FakeTelegram, mistral: FakeMistral, database: Db, tmp_path: Path
) -> None:
    env = bot_env(tg, mistral, database, JOB_LEASE_SECONDS="3")
    data, _, total = media.voice_note(3)
    xena = tg.user(5300, "Xena")
    chat = tg.private_chat(xena)
    mistral.hang_next(60)
    async with two_replicas(env, tmp_path) as (poller, worker):
        note = tg.send_voice(chat, xena, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)
        pid = holder_pid(database)
        killed, survivor = (poller, worker) if pid == poller.pid else (worker, poller)
        assert killed.pid == pid
        os.kill(pid, signal.SIGKILL)
        await killed.wait()
        leftover = set(mistral.live_files)
        assert len(leftover) == 1  # uploaded, never deleted: the crash left it behind
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: not mistral.live_files)
        await tg.wait_for(lambda: job_statuses(database) == ["done"])
        assert survivor.returncode is None
        # Before the dead replica's held request is let go (the fake then answers it to no one).
        billed = [c.billed_seconds for c in mistral.transcriptions if c.status == 200]
        mistral.release_hangs()
    assert leftover <= set(mistral.deleted)
    assert len(tg.replies_to(chat["id"], note["message_id"])) == 1
    assert len(billed) == 1
    assert usage_row(database, xena["id"]) == (billed[0], 0)


async def test_the_worker_refuses_sqlite(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    env = bot_env(tg, mistral, tmp_path / "bot.sqlite3")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "worker",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]
    assert not (tmp_path / "bot.sqlite3").exists()
    assert tg.calls("getMe") == []


@postgres_only
async def test_postgresql_restarted_under_the_bot_loses_no_accepted_note(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    database: Db,
    postgres_server: PostgresServer,
) -> None:
    data, words, total = media.voice_note(2)
    yan = tg.user(5400, "Yan")
    chat = tg.private_chat(yan)
    mistral.hang_next(60)
    async with run_bot():
        first = tg.send_voice(chat, yan, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)  # accepted, at Mistral
        await asyncio.to_thread(postgres_server.restart)
        mistral.release_hangs()
        second = tg.send_voice(chat, yan, data, duration=round(total))
        for note in (first, second):
            replies = await tg.wait_for(partial(transcript_of, tg, chat["id"], note["message_id"]))
            assert replies is not None
            assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        await tg.wait_for(lambda: job_statuses(database) == ["done", "done"])
    billed = mistral.transcriptions[0].billed_seconds
    assert usage_row(database, yan["id"]) == (2 * billed, 0)


@postgres_only
async def test_health_checks_postgresql_when_database_url_is_set(
    tg: FakeTelegram, run_bot: RunBot, database: Db, postgres_server: PostgresServer
) -> None:
    async with run_bot():
        code, said = await health(database.path, url=database.url)
        assert code == 0, said
        assert said.startswith("voxgram health: ok")
        gone = postgres_server.url("no_such_database")
        code, said = await health(database.path, url=gone)
    assert code == 1
    assert "does not answer" in said
