"""The durable job runner: a bounded set of workers taking job rows from the database.

Handlers only write rows and call `wake()`; workers claim rows one at a time, so a note is
never lost between the two, and a restart simply picks up whatever is still queued. Each claim
leases the job to this process (`owner`) for `lease_seconds`, renewed every third of that
while it runs; a replica that dies loses its jobs to the others once their leases end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage import jobs, leases
from storage.db import Database
from storage.job_rows import Job

log = logging.getLogger(__name__)


class JobRunner:
    """`workers` coroutines that each process one job at a time.

    A job may let its worker go before it ends (`release`, given to the handler): a job whose
    transcript is made and only waits for Telegram to take its reply, paced at 30 messages a
    second, need not keep a worker from the next note's download and transcription.
    """

    def __init__(
        self,
        db: Database,
        handle: Callable[[Job, Callable[[], None]], Awaitable[None]],
        *,
        workers: int,
        owner: str,
        lease_seconds: int = jobs.LEASE_SECONDS,
        poll: float | None = None,
    ) -> None:
        self._db = db
        self._handle = handle
        self._workers = workers
        self.owner = owner
        self._lease = lease_seconds
        # Replicas queue jobs this process is not told about, and leases of dead replicas run
        # out unseen: with `poll`, idle workers look that often.
        self._poll = poll
        # Half the workers at most for one chat, so others are served during a group's burst.
        self._per_chat = max(1, workers // 2)
        # One permit per wake-up: a permit is never lost, unlike an Event cleared by a rival.
        self._signal = asyncio.Semaphore(0)
        # Jobs announced by wake() and not yet claimed: a claim beyond them found a job by
        # looking (queued by another replica, or its lease run out).
        self._announced = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._background: list[asyncio.Task[None]] = []

    @property
    def running_jobs(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        """Requeue what a previous run left unfinished and start the workers."""
        requeued = await jobs.requeue_unfinished(self._db, leased_too=not self._db.postgres)
        if requeued:
            log.info("resuming %d unfinished jobs", requeued)
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._work(n), name=f"voxgram-worker-{n}")
            for n in range(self._workers)
        ]
        self._background = [asyncio.create_task(self._renew(), name="voxgram-leases")]
        if self._poll is not None:
            self._background.append(
                asyncio.create_task(self._look(self._poll), name="voxgram-poll")
            )

    def wake(self) -> None:
        """A job was queued: let one idle worker look."""
        self._announced += 1
        self._signal.release()

    async def stop(self, grace: float) -> None:
        """Take no new jobs; give running ones `grace` seconds, then requeue the rest.

        When this returns no job is left running: each has finished or is back in the queue,
        so the database and the HTTP clients can be closed.
        """
        self._stopping = True
        for _ in self._tasks:
            self._signal.release()
        if self._running:
            log.info("waiting up to %ss for %d running jobs", grace, len(self._running))
        # Workers end on their own once their job has, or has let them go: they claim nothing
        # more. Jobs that let their worker go are waited for too.
        waited = self._tasks + list(self._running.values())
        if waited:
            await asyncio.wait(waited, timeout=grace)
        late = list(self._running.values())
        if late:
            log.info("grace over: %d running jobs go back to the queue", len(late))
        # What is left: jobs past the grace, which requeue themselves when cancelled, and
        # workers in the middle of a claim (a slow database), which give back what it took.
        rest = late + self._tasks
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        self._tasks = []
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []

    async def _renew(self) -> None:
        """Renew the leases of this process's running jobs every third of a lease."""
        while True:
            await asyncio.sleep(self._lease / 3)
            if not self._running:
                continue
            try:
                await leases.renew_all(self._db, owner=self.owner, lease_seconds=self._lease)
            except Exception:
                # The database may be restarting: the next round tries again, well in time.
                log.warning("leases not renewed: database unavailable")

    async def _look(self, every: float) -> None:
        """Wake an idle worker every `every` seconds, at most one waiting permit at a time."""
        while True:
            await asyncio.sleep(every)
            if self._signal.locked():
                self._signal.release()

    async def _work(self, number: int) -> None:
        while not self._stopping:
            try:
                job = await self._claim()
            except Exception:
                # A database hiccup must not kill the worker: log, breathe, try again.
                log.exception("worker=%d could not claim a job", number)
                await asyncio.sleep(1.0)
                continue
            if job is None:
                self._announced = 0  # nothing left to claim: every announced job is taken
                await self._signal.acquire()
                continue
            if self._announced:
                self._announced -= 1
            elif self._poll is not None and self._signal.locked():
                # Found by looking, the next one may be waiting too: another idle worker looks.
                self._signal.release()
            # The job runs in its own task, which stop() cancels when the grace is over; the
            # worker only waits for it.
            released = asyncio.get_running_loop().create_future()

            def release(released: asyncio.Future[None] = released) -> None:
                if not released.done():
                    released.set_result(None)

            task = asyncio.create_task(self._run(job, release), name=f"voxgram-job-{job.id}")
            self._running[job.id] = task
            await asyncio.wait({task, released}, return_when=asyncio.FIRST_COMPLETED)

    async def _claim(self) -> Job | None:
        """The next job, or None. Cancelled midway, the claim still ends (a moment's database
        work) and a job it took goes back to the queue unstarted: no row is left 'running'
        with an attempt counted."""
        claim = asyncio.ensure_future(self._claim_unless_stopping())
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            await asyncio.shield(self._give_back(claim))
            raise

    async def _claim_unless_stopping(self) -> Job | None:
        job = await jobs.claim_next(
            self._db, per_chat=self._per_chat, owner=self.owner, lease_seconds=self._lease
        )
        if job is not None and self._stopping:
            # The stop began while the database was handing it over: it is not started.
            await jobs.requeue(self._db, job.id, owner=self.owner)
            log.info("job=%d claimed as the stop began, requeued", job.id)
            return None
        return job

    async def _give_back(self, claim: asyncio.Future[Job | None]) -> None:
        await asyncio.wait({claim})
        if claim.cancelled() or claim.exception() is not None:
            return
        job = claim.result()
        if job is not None:
            await jobs.requeue(self._db, job.id, owner=self.owner)
            log.info("job=%d claimed as its worker was cancelled, requeued", job.id)

    async def _run(self, job: Job, release: Callable[[], None]) -> None:
        try:
            await self._handle(job, release)
        except asyncio.CancelledError:
            # Out of grace time: the job goes back to the queue for the next start.
            await asyncio.shield(jobs.requeue(self._db, job.id, owner=self.owner))
            log.info("job=%d requeued at stop", job.id)
            raise
        except Exception:
            log.exception("job=%d crashed", job.id)
            try:
                await jobs.fail(self._db, job.id, "crashed", owner=self.owner)
            except Exception:
                log.exception("job=%d could not be marked failed", job.id)
        finally:
            self._running.pop(job.id, None)
