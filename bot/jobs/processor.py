"""One job from start to end: download, probe, re-check quota, transcribe, retain, settle, reply."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.domain.jobs import Failure
from bot.domain.notes import Kind
from bot.domain.partial import PartialTranscript
from bot.domain.transcript import Transcript
from bot.i18n import texts
from bot.jobs import delivering, leasing, retaining
from bot.jobs.batching import Abandoned, Batches, Plan
from bot.jobs.delivering import Delivered, DeliveryRetry
from bot.jobs.failures import JobFailed, transcription_failed
from bot.jobs.ports import Delivery, Downloader, DownloadFailed, DownloadTooBig
from bot.jobs.quotas import Quotas
from bot.jobs.retaining import Made
from bot.transcription import audio, probing
from bot.transcription.early import EarlyUpload
from bot.transcription.mistral import MistralError
from bot.transcription.slots import Stopping
from bot.transcription.transcriber import Transcriber
from storage import batches, jobs, uploads
from storage.db import Database
from storage.job_rows import Job
from storage.transcripts import NewTranscript

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 3
"""Attempts of one job that may end with the process before the job is failed."""

VIDEO_KINDS = frozenset({Kind.VIDEO, Kind.VIDEO_NOTE})
"""Never sent as they are (only their audio track is): not uploaded before their probe."""


class Processor:
    """Processes one claimed job; every failure ends in a reply (in private) and a log line."""

    def __init__(
        self,
        *,
        db: Database,
        quotas: Quotas,
        downloader: Downloader,
        transcriber: Transcriber,
        delivery: Delivery,
        workdir: Path,
        max_audio_seconds: int,
        retention_hours: int,
        delivery_retry: DeliveryRetry | None = None,
        store_backoff: float = 0.2,
        clock: Callable[[], float] = time.time,
        batches: Batches | None = None,
        owner: str | None = None,
        lease_seconds: int = jobs.LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.quotas = quotas
        self.downloader = downloader
        self.transcriber = transcriber
        self.delivery = delivery
        self.workdir = workdir
        """Where jobs keep their files: beside the database (a volume in Docker, not a small
        /tmp), and swept at start, so nothing a crash left behind lingers."""
        self.max_audio_seconds = max_audio_seconds
        self.retention_hours = retention_hours
        self.delivery_retry = delivery_retry or DeliveryRetry()
        self.store_backoff = store_backoff
        """First wait before a failed database write is tried again (doubling, at most 10 s)."""
        self.clock = clock
        self.batches = batches
        """Long notes through the batch API (BATCH_OVER_SECONDS); None: never."""
        self.owner = owner
        """The lease owner jobs are claimed for; None: no leases (a single process)."""
        self.lease_seconds = lease_seconds
        self._removing: dict[int, asyncio.Future[None]] = {}
        """Job folders being removed (in a thread) while their transcript goes out."""
        self._out: dict[int, asyncio.Event] = {}
        """Set once a job's transcript is out (or the job ended): its uploads' deletes wait."""

    async def __call__(self, job: Job, release: Callable[[], None] = lambda: None) -> None:
        """Process the job; `release` lets the job's worker go once Mistral's part is over."""
        self._out[job.id] = asyncio.Event()
        try:
            await self._run(job, release)
        finally:
            self._out.pop(job.id).set()
            self.delivery.forget(job.id)
            await self._removed(job)

    async def _removed(self, job: Job) -> None:
        """Wait until the job's folder is gone."""
        removing = self._removing.pop(job.id, None)
        if removing is not None:
            await asyncio.shield(removing)

    async def _run(self, job: Job, release: Callable[[], None]) -> None:
        started = time.monotonic()
        await leasing.discard_previous_uploads(self.db, lambda: self.transcriber.mistral, job)
        try:
            now = int(self.clock())
            resumed = await retaining.resumed(self.db, job, now=now)
            if resumed is None and job.attempts > MAX_ATTEMPTS:
                # Each earlier attempt ended with the process (a file that crashes the decoder,
                # say): trying again would only crash it again, at every start. A retained
                # transcript is still sent: that needs no decoding.
                log.error("job=%d chat=%d given up: attempts=%d", job.id, job.chat_id, job.attempts)
                t = texts.of(job.user_language)
                await self._fail(job, Failure.GAVE_UP, t(texts.FAILED))
                return
            made = resumed or await retaining.reused(
                self.db, job, hours=self.retention_hours, now=now
            )
            billed, transcript = made or await self._transcribe(job, release)
        except Stopping:
            # Stopped before it reached Mistral: the next start does it, at no cost to anyone.
            await jobs.requeue(self.db, job.id, owner=self.owner)
            log.info("job=%d chat=%d requeued: stopping", job.id, job.chat_id)
            return
        except Abandoned:
            log.info("job=%d chat=%d abandoned while its batch ran", job.id, job.chat_id)
            return
        except JobFailed as failure:
            log.info("job=%d chat=%d failed: %s", job.id, job.chat_id, failure.code)
            # Release first: when the user reads the refusal, nothing is held against them.
            await self._fail(job, failure.code, failure.reply, release)
            return
        except Exception:
            log.exception("job=%d chat=%d crashed", job.id, job.chat_id)
            t = texts.of(job.user_language)
            await self._fail(job, Failure.CRASHED, t(texts.FAILED), release)
            return
        # What is left waits for Telegram's pacing: the worker may take the next note.
        release()
        await self._finish(job, billed, transcript, started)

    async def _finish(
        self, job: Job, billed: int, transcript: Transcript | None, started: float
    ) -> None:
        """Retain, settle, deliver; done when delivered, failed when Telegram never takes it."""
        hours, now = self.retention_hours, int(self.clock())
        keep = retaining.to_keep(job, transcript, hours=hours, now=now)
        settled, kept = await retaining.settle(
            functools.partial(self._settle, job, billed), job, keep
        )
        # Settling renewed the lease: only a job settled before (a resent reply) looks again.
        if not settled and not await self._still_ours(job):
            return
        # Settled, not done: a stop or crash from here on requeues the job, and the next start
        # sends it again (_resume) without charging again. A cancellation must not mark it done.
        outcome = await delivering.deliver(
            self.delivery, job, transcript, kept, self.delivery_retry
        )
        if (out := self._out.get(job.id)) is not None:
            out.set()  # its uploads' deletes may go now
        await self._removed(job)  # done means no audio of it is left on disk
        took_ms = int((time.monotonic() - started) * 1000)
        if outcome in (Delivered.REFUSED, Delivered.TIMED_OUT):
            # It stays charged: Mistral transcribed it.
            await self._stored(
                "fail",
                job,
                lambda: jobs.fail(self.db, job.id, Failure.UNDELIVERED, owner=self.owner),
            )
            log.error(
                "job=%d chat=%d user=%d undelivered (%s) secs=%d settled=%s took_ms=%d",
                job.id,
                job.chat_id,
                job.payer_id,
                outcome.value,
                billed,
                settled,
                took_ms,
            )
            return
        done = await self._stored(
            "mark_done", job, lambda: jobs.mark_done(self.db, job.id, owner=self.owner)
        )
        if not done:
            log.warning("job=%d chat=%d delivered after its lease was lost", job.id, job.chat_id)
            return
        log.info(
            "job=%d chat=%d user=%d done secs=%d settled=%s delivered=%s took_ms=%d",
            job.id,
            job.chat_id,
            job.payer_id,
            billed,
            settled,
            outcome is Delivered.SENT,
            took_ms,
        )

    async def _settle(
        self, job: Job, billed: int, keep: NewTranscript | None
    ) -> tuple[bool, int | None]:
        owner, lease = self.owner, self.lease_seconds
        settle = self.quotas.settle
        return await self._stored(
            "settle",
            job,
            lambda: settle(job.id, billed, owner=owner, lease_seconds=lease, keep=keep),
        )

    async def _stored(self, what: str, job: Job, write: Callable[[], Awaitable[T]]) -> T:
        return await leasing.stored(what, job.id, write, backoff=self.store_backoff)

    async def _fail(
        self, job: Job, code: Failure, reply: str, release: Callable[[], None] = lambda: None
    ) -> None:
        await self._removed(job)  # failed means no audio of it is left on disk either
        if not await self._still_ours(job):
            release()
            return
        await self._stored("fail", job, lambda: jobs.fail(self.db, job.id, code, owner=self.owner))
        release()
        await self.delivery.report(job, reply)

    async def _still_ours(self, job: Job) -> bool:
        return await leasing.still_ours(self.db, job, self.owner, self.lease_seconds)

    async def _transcribe(self, job: Job, release: Callable[[], None]) -> Made:
        """Download, probe, hold the real length, transcribe (or have a batch transcribe)."""
        t = texts.of(job.user_language)
        if job.batch_plan is not None and self.batches is not None:
            # Its batch was planned before a restart: no download, no second batch.
            return await self._await_batch(job, Plan.decode(job.batch_plan), release, t)
        plan: Plan | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self.workdir))
        progress = self.delivery.progress(job)
        source: Path | None = None
        early: EarlyUpload | None = None
        stopping = cancelled = False
        # Where the chat has a live preview, Mistral streams and the lines so far are shown.
        preview = self.delivery.preview(job)
        partial = PartialTranscript(preview.show) if preview is not None else None
        try:
            # In a burst, the first notes get ready for Mistral first (ReadyTurns).
            async with self.transcriber.readying.turn(job.file_size, job.chat_id):
                source = await self._download(job, workdir / "source", t)
                # Uploaded while it is probed: nothing reads it before the checks below pass.
                early = self._upload_early(job, source)
                info = await self._probe(source, t)
                if info.duration > self.max_audio_seconds:
                    limit = self.max_audio_seconds
                    raise JobFailed(Failure.TOO_LONG, t.too_long(info.duration, limit))
                if job.billed_seconds is None:
                    # A job settled before a restart is transcribed again at no charge: nothing
                    # more is held against the quota for it.
                    await self.quotas.recheck(job, info.duration, t)
                if early is not None:
                    await early.file_id()  # the turn ends once the note is at Mistral
            if self.batches is not None and self.batches.applies(info.duration):
                plan = await self._submit_batch(job, source, workdir, info, t)
            else:
                hooks = (progress.update, partial)
                transcript = await self._sync(job, source, workdir, info, hooks, t, early)
        except Stopping:
            stopping = True
            raise
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if early is not None:
                # Deleted whether it was used or not (once the transcript is out, as any upload).
                await early.close(self._out.get(job.id), cancelled=cancelled)
            if preview is not None:
                preview.close()  # the transcript (or refusal) is next: no draft may hold it up
            # A late progress edit must not land on top of the transcript or the refusal.
            await progress.settle()
            await self._remove(job, workdir, source, stopping=stopping)
        if plan is not None:
            return await self._await_batch(job, plan, release, t)
        if transcript.is_blank:
            return 0, None
        # Mistral's usage is the charge; if an answer lacks it, the probed length stands in,
        # so a missing field never means free transcription.
        return transcript.billed_seconds or math.ceil(info.duration), transcript

    async def _remove(
        self, job: Job, workdir: Path, source: Path | None, *, stopping: bool
    ) -> None:
        """Remove the job's files: its folder while the transcript goes out (the job is done
        only once it is gone); a file read in place on a local Bot API server's disk, now."""
        self._removing[job.id] = asyncio.ensure_future(
            asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        )
        if source is not None and not stopping and not source.is_relative_to(workdir):
            await asyncio.to_thread(self.downloader.discard, source)

    def _upload_early(self, job: Job, source: Path) -> EarlyUpload | None:
        """Start the note's upload beside its probe if, as declared, it goes in one request:
        not batched, not a video (only its audio track is sent), not longer than a chunk
        (Transcriber.upload_early). What the probe or the quota then rule out is deleted."""
        declared = job.declared_seconds
        if declared is None or job.batch_plan is not None or job.kind in VIDEO_KINDS:
            return None
        if self.batches is not None and self.batches.applies(declared):
            return None
        return self.transcriber.upload_early(
            source,
            declared,
            on_upload=lambda file_id: uploads.record_upload(self.db, file_id, job.id),
            on_delete=lambda file_id: uploads.forget_upload(self.db, file_id),
        )

    async def _sync(
        self,
        job: Job,
        source: Path,
        workdir: Path,
        info: audio.AudioInfo,
        hooks: tuple[Callable[[int, int], None], PartialTranscript | None],
        t: texts.Texts,
        early: EarlyUpload | None,
    ) -> Transcript:
        """Transcribe with synchronous requests, now (streamed into `partial` if given), from
        the `early` upload if it can be."""
        on_progress, partial = hooks
        try:
            return await self.transcriber.transcribe(
                source,
                workdir,
                duration=info.duration,
                options=job.options,
                on_upload=lambda file_id: uploads.record_upload(self.db, file_id, job.id),
                on_delete=lambda file_id: uploads.forget_upload(self.db, file_id),
                on_progress=on_progress,
                on_segment=partial.segment if partial is not None else None,
                on_chunk=partial.complete if partial is not None else _ignore,
                chat=job.chat_id,
                sendable=info.sendable,
                hold_deletes=self._out.get(job.id),
                early=early,
            )
        except (audio.AudioError, MistralError) as exc:
            raise transcription_failed(exc, t) from exc

    async def _submit_batch(
        self, job: Job, source: Path, workdir: Path, info: audio.AudioInfo, t: texts.Texts
    ) -> Plan:
        """Tell the chat the note comes later and cheaper; upload it for one batch job."""
        assert self.batches is not None
        queued = t(texts.BATCH_QUEUED).format(hours=self.batches.expected_hours)
        await self.delivery.announce(job, queued)
        try:
            return await self.batches.submit(
                job, source, workdir, info.duration, sendable=info.sendable
            )
        except (audio.AudioError, MistralError) as exc:
            raise transcription_failed(exc, t) from exc

    async def _await_batch(
        self, job: Job, plan: Plan, release: Callable[[], None], t: texts.Texts
    ) -> Made:
        """Wait for the note's batch (its worker let go meanwhile) and take its transcript."""
        assert self.batches is not None
        try:
            transcript, batched = await self.batches.finish(job, plan, release)
        except MistralError as exc:
            raise transcription_failed(exc, t) from exc
        if transcript.is_blank:
            return 0, None
        billed = transcript.billed_seconds or math.ceil(plan.duration)
        await batches.set_seconds(self.db, job.id, min(batched, billed))
        return billed, transcript

    async def _download(self, job: Job, dest: Path, t: texts.Texts) -> Path:
        try:
            return await self.downloader.download(job.file_id, dest)
        except DownloadTooBig as exc:
            log.info("job=%d download refused: too big", job.id)
            raise JobFailed(Failure.TOO_BIG, t.too_big(job.file_size)) from exc
        except DownloadFailed as exc:
            log.warning("job=%d download failed", job.id)
            raise JobFailed(Failure.DOWNLOAD_FAILED, t(texts.DOWNLOAD_FAILED)) from exc

    async def _probe(self, path: Path, t: texts.Texts) -> audio.AudioInfo:
        try:
            return await asyncio.to_thread(probing.probe, path)
        except audio.AudioError as exc:
            raise JobFailed(Failure.UNREADABLE, t(texts.UNREADABLE)) from exc


def _ignore(chunk: int, part: Transcript) -> None:
    return None
