"""The durable job runner: a bounded set of workers taking job rows from SQLite.

Handlers only write rows and call `wake()`; workers claim rows one at a time, so a note is
never lost between the two, and a restart simply picks up whatever is still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage import jobs
from storage.db import Database
from storage.jobs import Job

log = logging.getLogger(__name__)


class JobRunner:
    """`workers` coroutines that each process one job at a time."""

    def __init__(
        self, db: Database, handle: Callable[[Job], Awaitable[None]], *, workers: int
    ) -> None:
        self._db = db
        self._handle = handle
        self._workers = workers
        # Half the workers at most for one chat, so others are served during a group's burst.
        self._per_chat = max(1, workers // 2)
        # One permit per wake-up: a permit is never lost, unlike an Event cleared by a rival.
        self._signal = asyncio.Semaphore(0)
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def running_jobs(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        """Requeue what a previous run left unfinished and start the workers."""
        requeued = await jobs.requeue_unfinished(self._db)
        if requeued:
            log.info("resuming %d unfinished jobs", requeued)
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._work(n), name=f"voxgram-worker-{n}")
            for n in range(self._workers)
        ]

    def wake(self) -> None:
        """A job was queued: let one idle worker look."""
        self._signal.release()

    async def stop(self, grace: float) -> None:
        """Take no new jobs; give running ones `grace` seconds, then requeue the rest."""
        self._stopping = True
        for _ in self._tasks:
            self._signal.release()
        running = list(self._running.values())
        if running:
            log.info("waiting up to %ss for %d running jobs", grace, len(running))
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # A worker may have claimed a job while we waited: it goes back to the queue too.
        late = list(self._running.values())
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _work(self, number: int) -> None:
        while not self._stopping:
            try:
                job = await jobs.claim_next(self._db, per_chat=self._per_chat)
            except Exception:
                # A database hiccup must not kill the worker: log, breathe, try again.
                log.exception("worker=%d could not claim a job", number)
                await asyncio.sleep(1.0)
                continue
            if job is None:
                await self._signal.acquire()
                continue
            # The job runs in its own task so that stop() can wait for it without
            # cancelling the worker loop in the middle of a claim.
            task = asyncio.create_task(self._run(job), name=f"voxgram-job-{job.id}")
            self._running[job.id] = task
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)
            finally:
                self._running.pop(job.id, None)

    async def _run(self, job: Job) -> None:
        try:
            await self._handle(job)
        except asyncio.CancelledError:
            # Out of grace time: the job goes back to the queue for the next start.
            await asyncio.shield(jobs.requeue(self._db, job.id))
            log.info("job=%d requeued at stop", job.id)
            raise
        except Exception:
            log.exception("job=%d crashed", job.id)
            try:
                await jobs.fail(self._db, job.id, "crashed")
            except Exception:
                log.exception("job=%d could not be marked failed", job.id)
