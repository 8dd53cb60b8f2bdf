"""Long notes through Mistral's batch API: upload the chunks, one batch job per note, wait for
it without holding a worker or a Mistral slot, merge its lines, send what it lost again.

Durable in three steps, each recorded before the next: the uploads (storage/uploads.py), the
plan naming them (jobs.batch_plan: from then on housekeeping leaves those files alone), the
batch id. A batch is tagged with the plan's nonce, so a restart between creating it and
recording its id finds it by its metadata instead of creating a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.domain.jobs import Failure
from bot.domain.transcript import Transcript
from bot.transcription import chunking
from bot.transcription.batch import TIMEOUT_HOURS, BatchClient, BatchJob, request_body
from bot.transcription.chunking import merge
from bot.transcription.mistral import MistralError, MistralUnavailable
from bot.transcription.slots import Stopping
from bot.transcription.transcriber import Transcriber
from storage import batches, uploads
from storage.db import Database
from storage.job_rows import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPolling:
    """How often a batch job is looked at: `first` seconds after it is created, then each wait
    `factor` times the last, at most `cap` (Tuning.batch_polling)."""

    first: float = 10.0
    factor: float = 1.5
    cap: float = 300.0

    def waits(self) -> Iterator[float]:
        wait = self.first
        while True:
            yield wait
            wait = min(self.cap, wait * self.factor)


@dataclass(frozen=True)
class Piece:
    """One uploaded chunk of a batched note."""

    file_id: str
    start: float
    duration: float


@dataclass(frozen=True)
class Plan:
    """What a note's batch reads, kept with its job: enough to poll, merge and send again."""

    nonce: str
    duration: float
    language: str | None
    pieces: tuple[Piece, ...]

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: str) -> Plan:
        data = json.loads(raw)
        pieces = tuple(Piece(**p) for p in data.pop("pieces"))
        return cls(pieces=pieces, **data)

    def metadata(self, job_id: int) -> dict[str, str]:
        return {"voxgram_job": str(job_id), "voxgram_batch": self.nonce}


class Abandoned(Exception):
    """The job was failed while it waited (/forgetme): its batch's files are deleted, nothing
    is sent."""


def custom_id(index: int) -> str:
    return f"chunk-{index}"


class Batches:
    """Submits a note's batch and waits for it; `over_seconds` (BATCH_OVER_SECONDS) decides
    which notes go this way."""

    expected_hours = TIMEOUT_HOURS
    """What a user is told to expect at the latest: Mistral gives a batch up after it."""

    def __init__(
        self,
        db: Database,
        client: BatchClient,
        transcriber: Transcriber,
        *,
        over_seconds: int,
        polling: BatchPolling,
    ) -> None:
        self.db = db
        self.client = client
        self.transcriber = transcriber
        self.over_seconds = over_seconds
        self.polling = polling

    def applies(self, duration: float) -> bool:
        return self.over_seconds > 0 and duration > self.over_seconds

    async def submit(
        self, job: Job, source: Path, workdir: Path, duration: float, *, sendable: bool
    ) -> Plan:
        """Cut and upload the audio and record the plan; the batch itself is created by
        finish(), so that a restart at any point creates it once."""
        chunks = await self.transcriber.cut(source, workdir, duration, sendable=sendable)
        pieces: list[Piece] = []
        try:
            for chunk in chunks:
                file_id = await self.client.mistral.upload(chunk.path)
                await uploads.record_upload(self.db, file_id, job.id)
                pieces.append(Piece(file_id, chunk.start, chunk.duration))
        except BaseException:
            await self._delete([p.file_id for p in pieces])
            raise
        plan = Plan(secrets.token_hex(8), duration, job.language, tuple(pieces))
        await batches.set_plan(self.db, job.id, plan.encode())
        return plan

    async def finish(
        self, job: Job, plan: Plan, release: Callable[[], None]
    ) -> tuple[Transcript, int]:
        """Wait for the batch (created now if it was not), merge its lines, transcribe what it
        lost synchronously, delete every file; the transcript and the seconds the batch made."""
        batch_id = job.batch_id or await self._create(job, plan)
        if await batches.wait(self.db, job.id):
            release()  # waiting holds no worker
        ended = await self._poll(job, batch_id)
        if not await batches.resume(self.db, job.id):
            await self._delete([p.file_id for p in plan.pieces], ended)
            raise Abandoned
        try:
            lines = await self.client.results(ended, timestamps=not plan.language)
            parts: list[tuple[chunking.Chunk, Transcript]] = []
            batched = 0
            for index, piece in enumerate(plan.pieces):
                chunk = chunking.Chunk(index, Path(piece.file_id), piece.start, piece.duration)
                part = lines.get(custom_id(index))
                if part is not None:
                    batched += part.billed_seconds
                else:
                    part = await self._again(job, plan, piece, index, ended.status)
                parts.append((chunk, part))
        finally:
            await self._delete([p.file_id for p in plan.pieces], ended)
        return merge(parts), batched

    async def forget(self, user_id: int) -> int:
        """/forgetme: fail the user's jobs that wait for a batch and cancel their batches; the
        pollers then delete the files. How many were cancelled."""
        batch_ids = await batches.abandon(self.db, user_id, Failure.FORGOTTEN)
        for batch_id in batch_ids:
            try:
                await self.client.cancel(batch_id)
            except MistralError:
                log.warning("batch=%s not cancelled: it runs to its end, unread", batch_id)
        if batch_ids:
            log.info("user=%d forgotten: %d batches cancelled", user_id, len(batch_ids))
        return len(batch_ids)

    async def _create(self, job: Job, plan: Plan) -> str:
        metadata = plan.metadata(job.id)
        found = None
        if job.batch_plan is not None:
            # Planned in an earlier run: its batch may exist, created but not recorded.
            found = await self.client.find(metadata)
        if found is None:
            requests = [
                {
                    "custom_id": custom_id(i),
                    "body": request_body(self.client.model, p.file_id, plan.language),
                }
                for i, p in enumerate(plan.pieces)
            ]
            found = await self.client.create(requests, metadata)
            log.info("job=%d batch=%s created lines=%d", job.id, found.id, len(requests))
        else:
            log.info("job=%d batch=%s found unrecorded", job.id, found.id)
        await batches.set_batch_id(self.db, job.id, found.id)
        return found.id

    async def _poll(self, job: Job, batch_id: str) -> BatchJob:
        """Look at the batch at growing intervals until it has ended. A stop (the slots close)
        ends the wait with Stopping: the job is queued again and polls on after the restart."""
        stopped = self.transcriber.slots.stopped
        for wait in self.polling.waits():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), wait)
            if stopped.is_set():
                raise Stopping
            try:
                batch = await self.client.get(batch_id)
            except MistralUnavailable:
                log.warning("job=%d batch=%s not reachable: polling on", job.id, batch_id)
                continue
            if batch.ended:
                log.info("job=%d batch=%s ended status=%s", job.id, batch_id, batch.status)
                return batch
        raise AssertionError("unreachable")  # pragma: no cover

    async def _again(
        self, job: Job, plan: Plan, piece: Piece, index: int, status: str
    ) -> Transcript:
        log.warning(
            "job=%d batch line %d missing (batch %s): transcribing it synchronously",
            job.id,
            index,
            status,
        )
        chat: Hashable = job.chat_id
        return await self.transcriber.transcribe_uploaded(
            piece.file_id, piece.duration, language=plan.language, chat=chat
        )

    async def _delete(self, file_ids: list[str], ended: BatchJob | None = None) -> None:
        """Delete the uploads and, of an ended batch, its output and error files; what is not
        deleted stays recorded for the next start."""
        if ended is not None:
            for extra in (ended.output_file, ended.error_file):
                if extra is not None:
                    await uploads.record_upload(self.db, extra, None)
                    file_ids.append(extra)
        for file_id in file_ids:
            try:
                await self.client.mistral.delete(file_id)
            except Exception:
                log.warning("mistral file=%s could not be deleted; kept for cleanup", file_id)
                continue
            await uploads.forget_upload(self.db, file_id)
