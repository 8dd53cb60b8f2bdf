"""Housekeeping: what a crash left behind, and what outlived its retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.quota import QuotaPolicy
from bot.transcription.mistral import MistralClient
from storage import carried, digests, transcripts, uploads
from storage.db import Database
from storage.migrations import HOUSEKEEPING_LOCK

log = logging.getLogger(__name__)


STALE_FOLDER_SECONDS = 86400
"""A work folder untouched this long belongs to no live replica (a running job writes in it)."""


class Housekeeper:
    """At start: sweeps the work folder, purges, and deletes leftover Mistral uploads in the
    background; then purges again every `interval` seconds. Purges and deletions are done by
    one replica at a time (a lock in the database): the others skip that round."""

    def __init__(
        self,
        db: Database,
        mistral: MistralClient,
        policy: QuotaPolicy,
        *,
        workdir: Path,
        clock: Callable[[], float],
        interval: float,
        retention_hours: int,
    ) -> None:
        self.db = db
        self.mistral = mistral
        self.policy = policy
        self.workdir = workdir
        self.clock = clock
        self.interval = interval
        self.retention_hours = retention_hours
        self._tasks: list[asyncio.Task[None]] = []

    async def before_jobs(self) -> None:
        """Clean up after a crash; must run before any job of this run records an upload."""
        leftovers = await uploads.leftover_uploads(self.db)
        await asyncio.to_thread(self._sweep_workdir)
        await self.purge()
        self._tasks.append(asyncio.create_task(self._purge_every(), name="voxgram-purge"))
        if leftovers:
            # In the background: during a Mistral outage the bot must answer meanwhile.
            self._tasks.append(
                asyncio.create_task(
                    self._delete_leftover_uploads(leftovers), name="voxgram-cleanup"
                )
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _sweep_workdir(self) -> None:
        """Remove what jobs a crash interrupted left on disk: audio must not linger. `workdir`
        is this process's own folder; beside it, on SQLite (one process) every other folder
        is a leftover, on PostgreSQL only those untouched for a day (replicas share volumes)."""
        root = self.workdir.parent
        root.mkdir(parents=True, exist_ok=True)
        old = time.time() - STALE_FOLDER_SECONDS
        stale = [
            path
            for path in root.iterdir()
            if path == self.workdir or not self.db.postgres or _modified(path) < old
        ]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        if stale:
            log.info("removed %d leftover job folders", len(stale))

    async def _purge_every(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.purge()

    async def purge(self) -> None:
        """Delete transcripts past their retention, forget the files and names of jobs that
        ended before it, the seconds forgotten users carried over in periods that have ended,
        and the summary counts of past days; then empty SQLite's write-ahead log, so nothing
        deleted stays readable there."""
        now = int(self.clock())
        try:
            async with self.db.holding(HOUSEKEEPING_LOCK) as ours:
                if not ours:
                    return
                purged = await transcripts.purge(self.db, now=now)
                if purged:
                    log.info("purged %d expired transcripts", purged)
                scrubbed = await transcripts.scrub(
                    self.db, before=now - self.retention_hours * 3600
                )
                if scrubbed:
                    log.info("forgot the files of %d finished jobs", scrubbed)
                carried_over = await carried.purge(self.db, self.policy.key())
                if carried_over:
                    log.info("purged %d usage counts carried over from ended periods", carried_over)
                today = datetime.fromtimestamp(now, UTC).date().isoformat()
                counts = await digests.purge(self.db, today)
                if counts:
                    log.info("purged %d summary counts of past days", counts)
                if purged or scrubbed or carried_over or counts:
                    await self.db.checkpoint()
        except Exception:
            log.exception("purging expired data failed")

    async def _delete_leftover_uploads(self, file_ids: list[str]) -> None:
        """Files a crash left at Mistral are deleted (they would be kept 30 days): one try
        each, as Mistral may be down; what is not deleted is tried again at the next start.
        Another replica already deleting them, this one leaves them."""
        try:
            async with self.db.holding(HOUSEKEEPING_LOCK) as ours:
                if ours:
                    await self._delete_each(file_ids)
        except Exception:
            log.exception("leftover mistral files not deleted: database unavailable")

    async def _delete_each(self, file_ids: list[str]) -> None:
        for file_id in file_ids:
            try:
                await self.mistral.delete(file_id, attempts=1)
            except Exception:
                log.warning("leftover mistral file=%s still not deleted", file_id)
                continue
            try:
                await uploads.forget_upload(self.db, file_id)
            except Exception:
                log.exception("leftover mistral file=%s deleted but not forgotten", file_id)
                continue
            log.info("deleted leftover mistral file=%s", file_id)


def _modified(path: Path) -> float:
    """When the folder last changed; now, if it is gone meanwhile (nothing to sweep)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()
