"""storage.jobs on SQLite and on PostgreSQL: what a retry of a failed job may and may not do."""

from __future__ import annotations

from dataclasses import replace

from storage import jobs
from storage.db import Database
from storage.job_rows import Accepted, NewJob
from tests.helpers import Db, usage_row
from tests.postgres import both_backends

pytestmark = both_backends

NOTE = NewJob(
    chat_id=-100,
    message_id=7,
    chat_type="supergroup",
    thread_id=None,
    payer_id=41,
    author_id=41,
    trigger="auto",
    kind="voice",
    file_id="F",
    file_size=1000,
    file_name=None,
    declared_seconds=10,
    header=None,
    language=None,
    user_language="en",
    period="2026-11",
)


async def failed_job(db: Database, *, settled: bool) -> int:
    accepted = await jobs.accept(db, NOTE, reserve=10, default_quota=600, unlimited=False)
    assert accepted.outcome is Accepted.CREATED and accepted.job_id is not None
    if settled:
        assert await jobs.settle(db, accepted.job_id, 10)
    await jobs.fail(db, accepted.job_id, "mistral_unavailable")
    return accepted.job_id


async def test_transcribe_retries_a_failed_job_that_was_not_charged(database: Db) -> None:
    db = database.open()
    await db.open()
    try:
        job_id = await failed_job(db, settled=False)
        asker = replace(NOTE, payer_id=42, trigger="command")
        again = await jobs.accept(db, asker, reserve=10, default_quota=600, unlimited=False)
        job = await jobs.get(db, job_id)
    finally:
        await db.close()
    assert again.outcome is Accepted.CREATED and again.job_id == job_id
    assert job is not None and job.status == "queued" and job.payer_id == 42
    assert usage_row(database, 41) == (0, 0)
    assert usage_row(database, 42) == (0, 10)


async def test_a_failed_job_that_was_charged_is_not_run_again(database: Db) -> None:
    db = database.open()
    await db.open()
    try:
        job_id = await failed_job(db, settled=True)
        asker = replace(NOTE, trigger="command")
        again = await jobs.accept(db, asker, reserve=10, default_quota=600, unlimited=False)
    finally:
        await db.close()
    assert again.outcome is Accepted.DUPLICATE and again.job_id == job_id
    assert usage_row(database, 41) == (10, 0)  # charged once, nothing reserved
