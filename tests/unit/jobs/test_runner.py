"""The job runner: which workers look for a job, and when."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.jobs.runner import JobRunner
from storage import jobs
from storage.db import Database
from storage.job_rows import Job
from tests.test_storage_jobs import NOTE


class Jobs:
    """Jobs queued in the database (each in a chat of its own), the claims the workers made and
    when the jobs they took started."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = db
        self.claims: list[Job | None] = []
        self.started: list[float] = []
        self.done = asyncio.Event()
        self.three = asyncio.Event()
        real = jobs.claim_next

        async def claim_next(db: Database, **kwargs: Any) -> Job | None:
            job = await real(db, **kwargs)
            self.claims.append(job)
            return job

        monkeypatch.setattr(jobs, "claim_next", claim_next)

    async def queue(self, n: int) -> None:
        accepted = await jobs.accept(
            self.db,
            replace(NOTE, chat_id=-100 - n, message_id=n),
            reserve=0,
            default_quota=0,
            unlimited=True,
        )
        assert accepted.job_id is not None

    async def handle(self, job: Job, release: Callable[[], None]) -> None:
        self.started.append(time.monotonic())
        if len(self.started) == 3:
            self.three.set()
        await self.done.wait()

    async def settled(self) -> None:
        """Until the workers have stopped claiming."""
        seen = -1
        while seen != len(self.claims):
            seen = len(self.claims)
            await asyncio.sleep(0.05)


@pytest.fixture
def queue(db: Database, monkeypatch: pytest.MonkeyPatch) -> Jobs:
    return Jobs(db, monkeypatch)


async def test_a_job_announced_by_wake_sends_no_other_worker_looking(queue: Jobs) -> None:
    runner = JobRunner(queue.db, queue.handle, workers=4, owner="me", poll=3600)
    await runner.start()
    try:
        await queue.settled()
        assert queue.claims == [None] * 4  # each worker looked once as it started
        for n in range(3):
            await queue.queue(n)
            runner.wake()
            await queue.settled()
        assert len(queue.started) == 3
        assert len(queue.claims) == 4 + 3
    finally:
        queue.done.set()
        await runner.stop(grace=1)


async def test_jobs_found_by_looking_are_all_taken_at_once(queue: Jobs) -> None:
    runner = JobRunner(queue.db, queue.handle, workers=4, owner="me", poll=0.5)
    await runner.start()
    try:
        await queue.settled()
        for n in range(3):
            await queue.queue(n)  # queued by another replica: no wake
        await asyncio.wait_for(queue.three.wait(), timeout=5)
        assert queue.started[-1] - queue.started[0] < 0.25  # not one per poll
    finally:
        queue.done.set()
        await runner.stop(grace=1)
