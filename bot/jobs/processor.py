"""One job from start to end: download, probe, re-check quota, transcribe, reply, settle."""

from __future__ import annotations

import asyncio
import html
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.domain.quota import resets_at
from bot.domain.transcript import Transcript
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram import render, retained
from bot.telegram.files import DownloadError, TelegramFiles
from bot.telegram.status import StatusBoard
from bot.transcription import audio
from bot.transcription.mistral import (
    MistralAuthError,
    MistralBadResponse,
    MistralError,
    MistralRejected,
    MistralUnavailable,
)
from bot.transcription.transcriber import Stopping, Transcriber
from storage import jobs, transcripts
from storage.db import Database
from storage.jobs import Job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Attempts of one job that may end with the process before the job is failed."""

MAX_MESSAGES = 3
"""Past this many messages the transcript comes as a .txt document with a preview in chat."""


class JobFailed(Exception):
    """The job cannot succeed; `reply` is what the user is told (in their language), `code`
    what is stored."""

    def __init__(self, code: str, reply: str) -> None:
        super().__init__(code)
        self.code = code
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    """What the user gets: HTML messages (the first replaces the status) and maybe a file."""

    messages: list[str]
    document: tuple[str, bytes] | None = None
    transcript: Transcript | None = None
    """What the .srt/.txt buttons give, if it is retained (None: nothing to give)."""


@dataclass
class Pipeline:
    """Processes one claimed job; every failure ends in a reply (in private) and a log line."""

    settings: Settings
    db: Database
    bot: Bot
    files: TelegramFiles
    transcriber: Transcriber
    workdir: Path
    """Where jobs keep their files: beside the database (a volume in Docker, not a small /tmp),
    and swept at start, so nothing a crash left behind lingers."""
    progress_every: float = 5.0
    clock: Callable[[], float] = field(default=time.time)
    status: StatusBoard = field(default_factory=StatusBoard)

    async def __call__(self, job: Job, release: Callable[[], None] = lambda: None) -> None:
        """Process the job; `release` lets the job's worker go once Mistral's part is over."""
        try:
            await self._run(job, release)
        finally:
            self.status.forget(job.id)

    async def _with_status(self, job: Job) -> Job:
        """The job with its status message's id, once the handler has sent it."""
        message_id = await self.status.wait(job.id, job.status_message_id)
        return replace(job, status_message_id=message_id)

    async def _run(self, job: Job, release: Callable[[], None]) -> None:
        started = time.monotonic()
        if job.attempts > MAX_ATTEMPTS:
            # Each earlier attempt ended with the process (a file that crashes the decoder, say):
            # trying again would only crash it again, at every start.
            log.error("job=%d chat=%d given up: attempts=%d", job.id, job.chat_id, job.attempts)
            await jobs.fail(self.db, job.id, "gave_up")
            await self._report(job, texts.of(job.user_language)(texts.FAILED))
            return
        try:
            billed, reply = await self._resume(job) or await self._transcribe(job)
        except Stopping:
            # Stopped before it reached Mistral: the next start does it, at no cost to anyone.
            await jobs.requeue(self.db, job.id)
            log.info("job=%d chat=%d requeued: stopping", job.id, job.chat_id)
            return
        except JobFailed as failure:
            log.info("job=%d chat=%d failed: %s", job.id, job.chat_id, failure.code)
            # Release first: when the user reads the refusal, nothing is held against them.
            await jobs.fail(self.db, job.id, failure.code)
            release()
            await self._report(job, failure.reply)
            return
        except Exception:
            log.exception("job=%d chat=%d crashed", job.id, job.chat_id)
            await jobs.fail(self.db, job.id, "crashed")
            release()
            await self._report(job, texts.of(job.user_language)(texts.FAILED))
            return
        # What is left waits for Telegram's pacing: the worker may take the next note.
        release()
        # Retained before settling: a restart between the two finds the transcript to send again.
        buttons = await self._retain(job, reply)
        settled = await jobs.settle(self.db, job.id, billed)
        try:
            await self._deliver(job, reply, buttons)
        except Forbidden:
            # The user blocked the bot or it left the group: nobody to tell; the work was done.
            log.info("job=%d chat=%d reply forbidden", job.id, job.chat_id)
        except TelegramError as exc:
            # Telegram refused the transcript after the rate limiter's retries: the job ends
            # (it is paid for, and retrying a refused send forever helps nobody).
            log.error("job=%d chat=%d reply failed: %s", job.id, job.chat_id, _reason(exc))
        finally:
            await jobs.mark_done(self.db, job.id)
        log.info(
            "job=%d chat=%d user=%d done secs=%d parts=%d settled=%s took_ms=%d",
            job.id,
            job.chat_id,
            job.payer_id,
            billed,
            len(reply.messages) + (reply.document is not None),
            settled,
            int((time.monotonic() - started) * 1000),
        )

    async def _resume(self, job: Job) -> tuple[int, Reply] | None:
        """A job settled before a restart interrupted it: send its retained transcript again
        rather than pay Mistral twice for it (without one, it is transcribed again, unbilled)."""
        if job.billed_seconds is None:
            return None
        kept = await transcripts.of_job(self.db, job.id, now=int(self.clock()))
        if kept is None:
            return None
        transcript, _ = retained.decode(kept.body)
        log.info("job=%d resending its retained transcript", job.id)
        return job.billed_seconds, self._reply(job, transcript, texts.of(job.user_language))

    async def _transcribe(self, job: Job) -> tuple[int, Reply]:
        """Return the seconds to bill and what to send."""
        t = texts.of(job.user_language)
        self.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self.workdir))
        progress = _Progress(
            job,
            self.progress_every,
            self._edit,
            t,
            status_id=lambda: job.status_message_id or self.status.known(job.id),
        )
        try:
            source = await self._download(job, workdir / "source")
            info = await self._probe(source, t)
            await self._recheck_quota(job, info.duration)
            try:
                transcript = await self.transcriber.transcribe(
                    source,
                    workdir,
                    duration=info.duration,
                    language=job.language,
                    on_upload=lambda file_id: jobs.record_upload(self.db, file_id, job.id),
                    on_delete=lambda file_id: jobs.forget_upload(self.db, file_id),
                    on_progress=progress.update,
                    chat=job.chat_id,
                    sendable=info.sendable,
                )
            except audio.AudioError as exc:
                raise JobFailed("unreadable", t(texts.UNREADABLE)) from exc
            except (MistralUnavailable, MistralBadResponse) as exc:
                # A garbled answer is trouble on Mistral's side too: the user may try later.
                raise JobFailed("mistral_unavailable", t(texts.SERVICE_BUSY)) from exc
            except MistralAuthError as exc:
                log.error("mistral refused the API key: check MISTRAL_API_KEY")
                raise JobFailed("mistral_auth", t(texts.FAILED)) from exc
            except (MistralRejected, MistralError) as exc:
                raise JobFailed("mistral_rejected", t(texts.SERVICE_REFUSED)) from exc
        finally:
            # A late progress edit must not land on top of the transcript or the refusal.
            await progress.settle()
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        if render.is_blank(transcript):
            return 0, Reply([html_escape_plain(t(texts.NO_SPEECH))])
        # Mistral's usage is the charge; if an answer lacks it, the probed length stands in,
        # so a missing field never means free transcription.
        billed = transcript.billed_seconds or math.ceil(info.duration)
        return billed, self._reply(job, transcript, t)

    def _reply(self, job: Job, transcript: Transcript, t: texts.Texts) -> Reply:
        """The transcript in chat; past MAX_MESSAGES a preview in chat and the whole as .txt."""
        messages = render.render_messages(transcript, header=job.header)
        if len(messages) <= MAX_MESSAGES:
            return Reply(messages, transcript=transcript)
        preview = render.render_preview(transcript, header=job.header, note=t(texts.SEE_FILE))
        whole = render.render_plain(transcript, header=job.header).encode()
        name = retained.file_name(job.created_at, "txt")
        return Reply([preview], (name, whole), transcript)

    async def _retain(self, job: Job, reply: Reply) -> InlineKeyboardMarkup | None:
        """Keep the transcript for its buttons, unless retention is 0; the buttons, if any."""
        hours = self.settings.TRANSCRIPT_RETENTION_HOURS
        if reply.transcript is None or hours == 0:
            return None
        now = int(self.clock())
        try:
            kept = await transcripts.keep(
                self.db,
                job_id=job.id,
                user_id=job.payer_id,
                author_id=job.author_id,
                chat_id=job.chat_id,
                body=retained.encode(reply.transcript, job.header),
                now=now,
                expires_at=now + hours * 3600,
            )
        except Exception:
            # The transcript itself matters more than its buttons: deliver it without them.
            log.exception("job=%d transcript not retained", job.id)
            return None
        return retained.keyboard(kept, texts.of(job.user_language))

    async def _download(self, job: Job, dest: Path) -> Path:
        t = texts.of(job.user_language)
        try:
            return await self.files.download(job.file_id, dest)
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise JobFailed("too_big", t.too_big(job.file_size or 0)) from exc
            log.warning("job=%d getFile refused: %s", job.id, exc.message)
            raise JobFailed("download_failed", t(texts.DOWNLOAD_FAILED)) from exc
        except (DownloadError, TelegramError) as exc:
            log.warning("job=%d download failed: %s", job.id, type(exc).__name__)
            raise JobFailed("download_failed", t(texts.DOWNLOAD_FAILED)) from exc

    async def _probe(self, path: Path, t: texts.Texts) -> audio.AudioInfo:
        try:
            return await asyncio.to_thread(audio.probe, path)
        except audio.AudioError as exc:
            raise JobFailed("unreadable", t(texts.UNREADABLE)) from exc

    async def _recheck_quota(self, job: Job, seconds: float) -> None:
        """The declared duration came from the sender: check the real one before paying."""
        t = texts.of(job.user_language)
        limit = self.settings.MAX_AUDIO_SECONDS
        if seconds > limit:
            raise JobFailed("too_long", t.too_long(seconds, limit))
        fitted, left = await jobs.reserve_more(
            self.db,
            job.id,
            math.ceil(seconds),
            default_quota=self.settings.DEFAULT_QUOTA_SECONDS,
            unlimited=job.payer_id in self.settings.ADMIN_IDS,
        )
        if not fitted:
            period = self.settings.QUOTA_PERIOD
            raise JobFailed(
                "over_quota", t.over_quota(seconds, left or 0, period.value, resets_at(period))
            )

    async def _deliver(
        self, job: Job, reply: Reply, buttons: InlineKeyboardMarkup | None = None
    ) -> None:
        """Edit the status message into the first part; further parts and the file reply to
        the first; the buttons go under the last part."""
        job = await self._with_status(job)
        messages = reply.messages
        first_markup = buttons if len(messages) == 1 else None
        first_id: int | None = None
        if job.status_message_id is not None:
            first_id = await self._edit(job, job.status_message_id, messages[0], first_markup)
        if first_id is None:
            first_id = (
                await self._send(job, messages[0], reply_to=job.message_id, markup=first_markup)
            ).message_id
        for n, text in enumerate(messages[1:], start=2):
            markup = buttons if n == len(messages) else None
            await self._send(job, text, reply_to=first_id, markup=markup)
        if reply.document is not None:
            name, data = reply.document
            await self.bot.send_document(
                job.chat_id,
                InputFile(data, filename=name),
                message_thread_id=job.thread_id,
                reply_parameters=ReplyParameters(first_id, allow_sending_without_reply=True),
            )

    async def _edit(
        self,
        job: Job,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int | None:
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=job.chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return message_id
            log.info("job=%d status message not editable (%s): sending anew", job.id, exc.message)
            return None
        return message_id

    async def _send(
        self, job: Job, text: str, *, reply_to: int, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        # allow_sending_without_reply: the note may have been deleted meanwhile.
        try:
            return await self.bot.send_message(
                job.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=job.thread_id,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True),
                reply_markup=markup,
            )
        except BadRequest as exc:
            log.error(
                "job=%d send refused: %s (chars=%d)", job.id, _reason(exc), render.utf16_len(text)
            )
            raise

    async def _report(self, job: Job, reply: str) -> None:
        """Tell the user why the job failed (quiet in a group's auto mode)."""
        job = await self._with_status(job)
        if job.trigger == "auto":
            if job.status_message_id is not None:
                await self._quietly(self.bot.delete_message(job.chat_id, job.status_message_id))
            return
        text = html_escape_plain(reply)
        if job.status_message_id is not None and await self._edit(job, job.status_message_id, text):
            return
        await self._quietly(self._send(job, text, reply_to=job.message_id))

    async def _quietly(self, call: object) -> None:
        try:
            await call  # type: ignore[misc]
        except TelegramError as exc:
            log.info("telegram refused a courtesy message: %s", exc.message)


class _Progress:
    """Edits a long note's status message as its parts come back, at most once per
    `progress_every` seconds and one edit at a time (none in a group's auto mode)."""

    def __init__(
        self,
        job: Job,
        every: float,
        edit: Callable[[Job, int, str], Coroutine[Any, Any, int | None]],
        words: texts.Texts,
        *,
        status_id: Callable[[], int | None],
    ) -> None:
        self._job = job
        self._status_id = status_id
        self._every = every
        self._send_edit = edit
        self._texts = words
        self._last = time.monotonic()
        self._edit: asyncio.Task[int | None] | None = None
        self._shown: tuple[int, int] | None = None

    def update(self, done: int, total: int) -> None:
        job = self._job
        status_id = self._status_id()
        if status_id is None or job.trigger == "auto":
            return
        now = time.monotonic()
        if now - self._last < self._every:
            return
        if self._edit is not None:
            if not self._edit.done():
                return
            self._retire(self._edit)
        if (done, total) == self._shown or done >= total:
            return  # the transcript itself is the next edit
        self._last, self._shown = now, (done, total)
        text = html_escape_plain(self._texts.progress(done, total))
        self._edit = asyncio.create_task(self._send_edit(job, status_id, text))

    async def settle(self) -> None:
        """Wait for an edit in flight; its failure only costs a progress line."""
        if self._edit is None:
            return
        await asyncio.wait({self._edit})
        self._retire(self._edit)

    def _retire(self, edit: asyncio.Task[int | None]) -> None:
        """Collect a finished edit's outcome, so no failure goes unretrieved."""
        error = None if edit.cancelled() else edit.exception()
        if error is not None:
            log.info("job=%d progress edit failed: %s", self._job.id, type(error).__name__)


def _reason(exc: TelegramError) -> str:
    """Telegram's reason without what may follow a colon: "can't parse entities: …" quotes
    the text that was sent, and transcript text stays out of the logs."""
    return exc.message.split(":", 1)[0]


def html_escape_plain(text: str) -> str:
    """Escape a plain-text message for HTML parse mode."""
    return html.escape(text, quote=False)
