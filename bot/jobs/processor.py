"""One job from start to end: download, probe, re-check quota, transcribe, retain, settle, reply."""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.domain import retained
from bot.domain.jobs import Failure
from bot.domain.transcript import Transcript
from bot.i18n import texts
from bot.jobs import delivering
from bot.jobs.delivering import Delivered, DeliveryRetry
from bot.jobs.failures import JobFailed, transcription_failed
from bot.jobs.ports import Delivery, Downloader, DownloadFailed, DownloadTooBig
from bot.jobs.quotas import Quotas
from bot.transcription import audio, probing
from bot.transcription.mistral import MistralError
from bot.transcription.slots import Stopping
from bot.transcription.transcriber import Transcriber
from storage import jobs, transcripts, uploads
from storage.db import Database
from storage.jobs import Job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Attempts of one job that may end with the process before the job is failed."""

Made = tuple[int, Transcript | None]
"""Seconds to bill, and the transcript (None: nothing was heard)."""


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
        clock: Callable[[], float] = time.time,
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
        self.clock = clock
        self.owner = owner
        """The lease owner jobs are claimed for; None: no leases (a single process)."""
        self.lease_seconds = lease_seconds

    async def __call__(self, job: Job, release: Callable[[], None] = lambda: None) -> None:
        """Process the job; `release` lets the job's worker go once Mistral's part is over."""
        try:
            await self._run(job, release)
        finally:
            self.delivery.forget(job.id)

    async def _run(self, job: Job, release: Callable[[], None]) -> None:
        started = time.monotonic()
        await self._discard_previous_uploads(job)
        try:
            resumed = await self._resume(job)
            if resumed is None and job.attempts > MAX_ATTEMPTS:
                # Each earlier attempt ended with the process (a file that crashes the decoder,
                # say): trying again would only crash it again, at every start. A retained
                # transcript is still sent: that needs no decoding.
                log.error("job=%d chat=%d given up: attempts=%d", job.id, job.chat_id, job.attempts)
                t = texts.of(job.user_language)
                await self._fail(job, Failure.GAVE_UP, t(texts.FAILED))
                return
            billed, transcript = resumed or await self._transcribe(job)
        except Stopping:
            # Stopped before it reached Mistral: the next start does it, at no cost to anyone.
            await jobs.requeue(self.db, job.id, owner=self.owner)
            log.info("job=%d chat=%d requeued: stopping", job.id, job.chat_id)
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
        # Retained before settling: a restart between the two finds the transcript to send again.
        kept = await self._retain(job, transcript)
        settled = await self.quotas.settle(job.id, billed, owner=self.owner)
        if not await self._still_ours(job):
            return
        # Settled, not done: a stop or crash from here on requeues the job, and the next start
        # sends it again (_resume) without charging again. A cancellation must not mark it done.
        outcome = await delivering.deliver(
            self.delivery, job, transcript, kept, self.delivery_retry
        )
        took_ms = int((time.monotonic() - started) * 1000)
        if outcome in (Delivered.REFUSED, Delivered.TIMED_OUT):
            # It stays charged: Mistral transcribed it.
            await jobs.fail(self.db, job.id, Failure.UNDELIVERED, owner=self.owner)
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
        if not await jobs.mark_done(self.db, job.id, owner=self.owner):
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

    async def _fail(
        self, job: Job, code: Failure, reply: str, release: Callable[[], None] = lambda: None
    ) -> None:
        if not await self._still_ours(job):
            release()
            return
        await jobs.fail(self.db, job.id, code, owner=self.owner)
        release()
        await self.delivery.report(job, reply)

    async def _still_ours(self, job: Job) -> bool:
        """Renew the job's lease before anything is sent; False (and a log line) when another
        replica has taken the job over: this one then stops without sending anything more."""
        if self.owner is None:
            return True
        if await jobs.renew(self.db, job.id, owner=self.owner, lease_seconds=self.lease_seconds):
            return True
        log.warning(
            "job=%d chat=%d lease lost: stopping, another replica has it", job.id, job.chat_id
        )
        return False

    async def _discard_previous_uploads(self, job: Job) -> None:
        """Delete at once what an earlier holder of the job uploaded to Mistral (it died or lost
        the lease); what Mistral does not delete now, housekeeping tries again later."""
        for file_id in await uploads.of_job(self.db, job.id):
            try:
                await self.transcriber.mistral.delete(file_id, attempts=1)
            except Exception:
                log.warning(
                    "job=%d upload file=%s of its previous holder not deleted", job.id, file_id
                )
                continue
            await uploads.forget_upload(self.db, file_id)
            log.info("job=%d deleted upload file=%s of its previous holder", job.id, file_id)

    async def _resume(self, job: Job) -> Made | None:
        """A job settled before a restart interrupted it: send its retained transcript again
        rather than pay Mistral twice for it (without one, it is transcribed again, unbilled)."""
        if job.billed_seconds is None:
            return None
        kept = await transcripts.of_job(self.db, job.id, now=int(self.clock()))
        if kept is None:
            log.info("job=%d settled, its transcript not retained: transcribing again", job.id)
            return None
        transcript, _ = retained.decode(kept.body)
        log.info("job=%d resending its retained transcript", job.id)
        return job.billed_seconds, transcript

    async def _transcribe(self, job: Job) -> Made:
        """Download, probe, hold the real length, transcribe."""
        t = texts.of(job.user_language)
        self.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self.workdir))
        progress = self.delivery.progress(job)
        try:
            source = await self._download(job, workdir / "source", t)
            info = await self._probe(source, t)
            if info.duration > self.max_audio_seconds:
                raise JobFailed(Failure.TOO_LONG, t.too_long(info.duration, self.max_audio_seconds))
            if job.billed_seconds is None:
                # A job settled before a restart is transcribed again at no charge: nothing
                # more is held against the quota for it.
                await self.quotas.recheck(job, info.duration, t)
            try:
                transcript = await self.transcriber.transcribe(
                    source,
                    workdir,
                    duration=info.duration,
                    language=job.language,
                    on_upload=lambda file_id: uploads.record_upload(self.db, file_id, job.id),
                    on_delete=lambda file_id: uploads.forget_upload(self.db, file_id),
                    on_progress=progress.update,
                    chat=job.chat_id,
                    sendable=info.sendable,
                )
            except (audio.AudioError, MistralError) as exc:
                raise transcription_failed(exc, t) from exc
        finally:
            # A late progress edit must not land on top of the transcript or the refusal.
            await progress.settle()
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        if transcript.is_blank:
            return 0, None
        # Mistral's usage is the charge; if an answer lacks it, the probed length stands in,
        # so a missing field never means free transcription.
        return transcript.billed_seconds or math.ceil(info.duration), transcript

    async def _download(self, job: Job, dest: Path, t: texts.Texts) -> Path:
        try:
            return await self.downloader.download(job.file_id, dest)
        except DownloadTooBig as exc:
            log.info("job=%d download refused: too big", job.id)
            raise JobFailed(Failure.TOO_BIG, t.too_big(job.file_size or 0)) from exc
        except DownloadFailed as exc:
            log.warning("job=%d download failed", job.id)
            raise JobFailed(Failure.DOWNLOAD_FAILED, t(texts.DOWNLOAD_FAILED)) from exc

    async def _probe(self, path: Path, t: texts.Texts) -> audio.AudioInfo:
        try:
            return await asyncio.to_thread(probing.probe, path)
        except audio.AudioError as exc:
            raise JobFailed(Failure.UNREADABLE, t(texts.UNREADABLE)) from exc

    async def _retain(self, job: Job, transcript: Transcript | None) -> int | None:
        """Keep the transcript for its buttons, unless retention is 0; its id, if kept."""
        hours = self.retention_hours
        if transcript is None or hours == 0:
            return None
        now = int(self.clock())
        try:
            return await transcripts.keep(
                self.db,
                job_id=job.id,
                user_id=job.payer_id,
                author_id=job.author_id,
                chat_id=job.chat_id,
                body=retained.encode(transcript, job.header),
                now=now,
                expires_at=now + hours * 3600,
            )
        except Exception:
            # The transcript itself matters more than its buttons: deliver it without them.
            log.exception("job=%d transcript not retained", job.id)
            return None
