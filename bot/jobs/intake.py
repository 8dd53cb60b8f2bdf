"""Accepting a note: the checks before download, the job row with its reservation, the status."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

from telegram import (
    Bot,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
    User,
)
from telegram.constants import ChatType, FileSizeLimit
from telegram.error import TelegramError

from bot.domain.quota import period_key, resets_at
from bot.i18n import texts
from bot.jobs.runner import JobRunner
from bot.settings import Settings
from bot.telegram.status import StatusBoard
from storage import jobs, prefs, usage
from storage.db import Database
from storage.jobs import Accepted, NewJob

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    [
        ".mp3",
        ".m4a",
        ".aac",
        ".ogg",
        ".oga",
        ".opus",
        ".wav",
        ".flac",
        ".amr",
        ".wma",
        ".weba",
        ".webm",
        ".mp4",
        ".mkv",
        ".mov",
        ".3gp",
        ".caf",
        ".aiff",
        ".aif",
    ]
)


@dataclass(frozen=True, slots=True)
class Note:
    """The transcribable media of a message, as Telegram describes it."""

    kind: str
    file_id: str
    file_size: int | None
    duration: float | None
    file_name: str | None


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def note_of(message: Message) -> Note | None:
    """The note in a message, or None when it holds nothing transcribable."""
    if message.voice:
        v = message.voice
        return Note("voice", v.file_id, v.file_size, _seconds(v.duration), None)
    if message.audio:
        a = message.audio
        return Note("audio", a.file_id, a.file_size, _seconds(a.duration), a.file_name)
    if message.video_note:
        n = message.video_note
        return Note("video_note", n.file_id, n.file_size, _seconds(n.duration), None)
    if message.video:
        w = message.video
        return Note("video", w.file_id, w.file_size, _seconds(w.duration), w.file_name)
    if message.document:
        d = message.document
        mime = (d.mime_type or "").lower()
        suffix = PurePath(d.file_name or "").suffix.lower()
        if mime.startswith(("audio/", "video/")) or suffix in AUDIO_EXTENSIONS:
            return Note("document", d.file_id, d.file_size, None, d.file_name)
    return None


def origin_name(message: Message) -> str | None:
    """Who first sent a forwarded message, from `forward_origin`."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or origin.sender_chat.full_name
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title
    return None


@dataclass
class Intake:
    """Decides whether a note is taken, and if so queues it; never waits for transcription."""

    settings: Settings
    db: Database
    bot: Bot
    runner: JobRunner
    status: StatusBoard

    @property
    def max_file_size(self) -> int:
        if self.settings.TELEGRAM_LOCAL_MODE:
            return int(FileSizeLimit.FILESIZE_DOWNLOAD_LOCAL_MODE)
        return int(FileSizeLimit.FILESIZE_DOWNLOAD)

    async def submit(
        self,
        note_message: Message,
        note: Note,
        *,
        payer: User,
        trigger: str,
        answer_to: Message | None = None,
    ) -> None:
        """Queue the note in `note_message` for transcription paid by `payer`, or say why not.

        `trigger` is "private", "auto" (a group's auto mode: quiet, no status message) or
        "command" (/transcribe: refusals answer the command in `answer_to`).
        """
        chat = note_message.chat
        t = texts.of(payer.language_code)
        quiet = trigger == "auto"
        answer = answer_to or note_message
        log_ctx = f"chat={chat.id} msg={note_message.message_id} user={payer.id} kind={note.kind}"
        if await usage.is_blocked(self.db, payer.id):
            log.info("%s ignored: user blocked", log_ctx)
            return
        if note.file_size is not None and note.file_size > self.max_file_size:
            log.info("%s refused: file too big bytes=%d", log_ctx, note.file_size)
            if not quiet:
                await self._reply(answer, t.too_big(note.file_size))
            return
        limit = self.settings.MAX_AUDIO_SECONDS
        if note.duration is not None and note.duration > limit:
            log.info("%s refused: too long secs=%d", log_ctx, note.duration)
            if not quiet:
                await self._reply(answer, t.too_long(note.duration, limit))
            return
        period = self.settings.QUOTA_PERIOD
        reserve = math.ceil(note.duration) if note.duration else 0
        header = origin_name(note_message)
        # The pinned language is read now: a later /language does not change a queued note.
        language = await prefs.recognition_language(
            self.db, chat_id=None if chat.type == ChatType.PRIVATE else chat.id, user_id=payer.id
        )
        job = NewJob(
            chat_id=chat.id,
            message_id=note_message.message_id,
            chat_type=chat.type,
            thread_id=_thread(note_message),
            payer_id=payer.id,
            author_id=note_message.from_user.id if note_message.from_user else None,
            trigger=trigger,
            kind=note.kind,
            file_id=note.file_id,
            file_size=note.file_size,
            file_name=note.file_name,
            declared_seconds=reserve if note.duration is not None else None,
            header=t.forwarded_from(header) if header else None,
            language=language,
            user_language=payer.language_code,
            period=period_key(period),
        )
        acceptance = await jobs.accept(
            self.db,
            job,
            reserve=reserve,
            default_quota=self.settings.DEFAULT_QUOTA_SECONDS,
            unlimited=payer.id in self.settings.ADMIN_IDS,
        )
        if acceptance.outcome is Accepted.DUPLICATE:
            log.info("%s duplicate of job=%s", log_ctx, acceptance.job_id)
            if trigger == "command":
                await self._reply(answer, t(texts.ALREADY))
            return
        if acceptance.outcome is Accepted.OVER_QUOTA:
            log.info("%s refused: over quota left=%s", log_ctx, acceptance.left_seconds)
            # In a group's auto mode a user learns it at most once per period, not per note.
            if not quiet or await prefs.first_quota_notice(self.db, chat.id, payer.id, job.period):
                text = t.over_quota(
                    reserve, acceptance.left_seconds or 0, period.value, resets_at(period)
                )
                await self._reply(answer, text)
            return
        job_id = acceptance.job_id
        assert job_id is not None
        # A group's auto mode gets no status message: one message per note keeps groups
        # quiet and within Telegram's 20 messages a minute.
        if not quiet:
            self.status.expect(job_id)
        message_id: int | None = None
        try:
            # The job (queued as it was accepted) goes to the workers before its status message:
            # in a burst, Mistral need not wait behind Telegram's pacing. Its reply waits for
            # the message (bot.status).
            self.runner.wake()
            log.info("%s queued job=%d declared_secs=%d", log_ctx, job_id, reserve)
            if not quiet:
                status = await self._reply(note_message, t(texts.STATUS))
                if status is not None:
                    message_id = status.message_id
                    await jobs.set_status_message(self.db, job_id, message_id)
        finally:
            self.status.sent(job_id, message_id)

    async def _reply(self, message: Message, text: str) -> Message | None:
        """Reply to the note; a refusal by Telegram is logged, never raised into the handler."""
        try:
            return await self.bot.send_message(
                message.chat.id,
                text,
                message_thread_id=_thread(message),
                reply_parameters=ReplyParameters(
                    message.message_id, allow_sending_without_reply=True
                ),
            )
        except TelegramError as exc:
            log.warning("chat=%d reply failed: %s", message.chat.id, exc.message)
            return None


def _thread(message: Message) -> int | None:
    """The forum topic a message is in, so replies stay in that topic."""
    return message.message_thread_id if message.is_topic_message else None
