"""Notes from Telegram messages: a Message becomes a plain NoteRequest here, and the answer to
its admission (a status message or a refusal) goes back from here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from telegram import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
)
from telegram.error import TelegramError

from bot.domain.jobs import Trigger
from bot.domain.notes import Kind, Note, NoteRequest, is_audio_document
from bot.i18n import texts
from bot.jobs.intake import Intake, Verdict
from bot.telegram.outbox import Outbox
from bot.telegram.pacing import Paced, Skipped, paced
from bot.telegram.status import StatusBoard
from storage import jobs

log = logging.getLogger(__name__)


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def note_of(message: Message) -> Note | None:
    """The note in a message, or None when it holds nothing transcribable."""
    if message.voice:
        v = message.voice
        return Note(
            Kind.VOICE, v.file_id, v.file_size, _seconds(v.duration), None, v.file_unique_id
        )
    if message.audio:
        a = message.audio
        return Note(
            Kind.AUDIO, a.file_id, a.file_size, _seconds(a.duration), a.file_name, a.file_unique_id
        )
    if message.video_note:
        n = message.video_note
        return Note(
            Kind.VIDEO_NOTE, n.file_id, n.file_size, _seconds(n.duration), None, n.file_unique_id
        )
    if message.video:
        w = message.video
        return Note(
            Kind.VIDEO, w.file_id, w.file_size, _seconds(w.duration), w.file_name, w.file_unique_id
        )
    d = message.document
    if d and is_audio_document(d.mime_type, d.file_name):
        return Note(Kind.DOCUMENT, d.file_id, d.file_size, None, d.file_name, d.file_unique_id)
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


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a message counts as: who pays for its note, who is blocked, whose language it gets."""

    id: int
    """A user id, or the (negative) id of the chat the message was sent on behalf of."""
    language: str | None
    """The user's Telegram language; None for a chat, which has none (answers in English)."""


def sender_of(message: Message) -> Sender | None:
    """The sender of a message. One sent on behalf of a chat (a channel, a group's anonymous
    admins, a linked channel's automatic forward) counts as that chat: its `from` is a
    placeholder user Telegram shares between all such chats (Channel_Bot, GroupAnonymousBot)."""
    if message.sender_chat is not None:
        return Sender(message.sender_chat.id, None)
    if message.from_user is not None:
        return Sender(message.from_user.id, message.from_user.language_code)
    return None


def thread_of(message: Message) -> int | None:
    """The forum topic a message is in, so replies stay in that topic."""
    return message.message_thread_id if message.is_topic_message else None


def author_of(message: Message) -> int | None:
    """Whose voice a note holds: the original sender of a note forwarded from a user who can
    be seen, else its sender. Their /forgetme reaches what the note left."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.id
    author = sender_of(message)
    return author.id if author else None


def request_of(message: Message, note: Note, payer: Sender, trigger: Trigger) -> NoteRequest:
    """The plain request for the note in `message`, paid by `payer`."""
    return NoteRequest(
        note=note,
        chat_id=message.chat.id,
        chat_type=message.chat.type,
        message_id=message.message_id,
        thread_id=thread_of(message),
        payer_id=payer.id,
        payer_language=payer.language,
        author_id=author_of(message),
        trigger=trigger,
        forwarded_from=origin_name(message),
    )


class NoteDesk:
    """Hands notes to the intake and answers in the chat: a status message or a refusal, both
    through the outbox, so the handler returns once the job row is committed."""

    def __init__(
        self, intake: Intake, status: StatusBoard, outbox: Outbox, *, live: bool = False
    ) -> None:
        self.intake = intake
        self.status = status
        self.outbox = outbox
        self.live = live
        """LIVE_TRANSCRIPTS: in a private chat the job's draft is the status, not a message."""

    async def submit(
        self,
        note_message: Message,
        note: Note,
        *,
        payer: Sender,
        trigger: Trigger,
        answer_to: Message | None = None,
    ) -> None:
        """Queue the note in `note_message`, paid by `payer`; refusals answer `answer_to` (the
        /transcribe command) or the note itself."""
        request = request_of(note_message, note, payer, trigger)
        # A group's auto mode gets no status message: one message per note keeps groups quiet.
        # A private chat with live transcripts neither: the job shows a draft instead.
        silent = request.quiet or (self.live and request.private)
        on_queued = (lambda job_id: None) if silent else self.status.expect
        admission = await self.intake.admit(request, on_queued)
        if admission.verdict is not Verdict.QUEUED:
            answer = answer_to or note_message
            if admission.reply is not None and admission.paced:
                self.outbox.refuse(answer, request.payer_id, admission.reply, quote=True)
            elif admission.reply is not None:
                # Each note refused gets its answer (what is left, when it resets): not paced
                # per user like command refusals, only bounded by the chat's queue.
                self.outbox.reply(answer, admission.reply, quote=True, what="refusal")
            return
        job_id = admission.job_id
        assert job_id is not None
        if silent:
            return
        text = texts.of(payer.language)(texts.STATUS)
        # Taken now: the job may be over, and forgotten, before the status message's turn.
        courtesy = self.status.courtesy(job_id)

        async def send_status() -> None:
            message_id: int | None = None
            try:
                sent = await reply(note_message, text, courtesy)
                if sent is not None:
                    message_id = sent.message_id
                    await jobs.set_status_message(self.intake.db, job_id, message_id)
            finally:
                # Whatever edits the status message waits for this (bot.telegram.status).
                self.status.sent(job_id, message_id)

        self.outbox.post(
            note_message.chat.id,
            "status",
            send_status,
            dropped=lambda: self.status.sent(job_id, None),
        )


async def reply(message: Message, text: str, pace: Paced | None = None) -> Message | None:
    """Reply to a message; a refusal by Telegram is logged, never raised into the handler, and
    a courtesy the pacing skipped is None."""
    try:
        return await paced(message.get_bot()).send_message(
            message.chat.id,
            text,
            message_thread_id=thread_of(message),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
            rate_limit_args=pace,
        )
    except Skipped:
        return None  # logged by the pacing
    except TelegramError as exc:
        log.warning("chat=%d reply failed: %s", message.chat.id, exc.message)
        return None
