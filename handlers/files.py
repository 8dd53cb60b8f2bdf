"""The buttons under a transcript: its .srt or .txt file while retained, else "expired"."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import (
    CallbackQuery,
    InputFile,
    MaybeInaccessibleMessage,
    Message,
    ReplyParameters,
    Update,
)
from telegram.ext import ContextTypes

from bot.domain import retained
from bot.i18n import texts
from bot.telegram.keyboards import pressed_transcript_button
from bot.telegram.outbox import Outbox
from bot.telegram.pacing import Priority, paced
from bot.telegram.render import render_file
from storage import transcripts
from storage.db import Database
from storage.transcripts import Kept

log = logging.getLogger(__name__)


async def answer_expired(query: CallbackQuery, outbox: Outbox, t: texts.Texts) -> None:
    """Tell the presser the transcript is gone, and take the buttons off its message."""
    await query.answer(t(texts.EXPIRED), show_alert=True)
    message = query.message
    if message is None:
        return
    chat_id, message_id = message.chat.id, message.message_id
    outbox.post(
        chat_id,
        "buttons removal",
        lambda: query.get_bot().edit_message_reply_markup(chat_id, message_id),
    )


async def retained_for(
    query: CallbackQuery,
    transcript_id: int,
    *,
    db: Database,
    now: int,
    outbox: Outbox,
    t: texts.Texts,
) -> Kept | None:
    """The transcript a button press asks for, if it is still kept and of the pressed
    message's chat; otherwise the press is answered as expired and None. Expired transcripts
    are purged first, so a press after the retention period never finds text that should be
    gone."""
    await transcripts.purge(db, now=now)
    kept = await transcripts.get(db, transcript_id, now=now)
    message = query.message
    # A button only ever fetches a transcript of its own chat.
    if kept is None or message is None or kept.chat_id != message.chat.id:
        chat = message.chat.id if message is not None else None
        log.info("chat=%s transcript=%d expired", chat, transcript_id)
        await answer_expired(query, outbox, t)
        return None
    return kept


def thread_of(message: MaybeInaccessibleMessage) -> int | None:
    """The forum topic a pressed message is in, for replies to land in it too."""
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


class TranscriptFiles:
    """A press on .srt or .txt: the file, sent to the chat replying to the transcript. Anyone
    who sees the transcript may press; the data only counts on the message it was put on.

    Expired transcripts are purged on every press (besides the periodic purge), so a press
    after the retention period never finds text that should be gone.
    """

    def __init__(self, db: Database, clock: Callable[[], float], outbox: Outbox) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        pressed = pressed_transcript_button(context.bot.token, query.data, message)
        if pressed is None or message is None:
            # Data that was never on this message: it changes and sends nothing.
            log.info("user=%d pressed forged transcript button data", query.from_user.id)
            await query.answer()
            return
        kind, transcript_id = pressed
        t = texts.of(query.from_user.language_code)
        kept = await retained_for(
            query, transcript_id, db=self.db, now=int(self.clock()), outbox=self.outbox, t=t
        )
        if kept is None:
            return
        chat_id = message.chat.id
        await query.answer()
        transcript, header = retained.decode(kept.body)
        name = retained.file_name(kept.created_at, kind)
        data = render_file(
            transcript,
            header,
            kind,
            speaker=t(texts.SPEAKER),
            notes=t.notices(transcript.notices),
        ).encode()
        thread = thread_of(message)
        reply_to = ReplyParameters(message.message_id, allow_sending_without_reply=True)
        self.outbox.post(
            chat_id,
            f"transcript {kind}",
            lambda: paced(context.bot).send_document(
                chat_id,
                InputFile(data, filename=name),
                message_thread_id=thread,
                reply_parameters=reply_to,
                rate_limit_args=Priority.TRANSCRIPT,
            ),
        )
        log.info("chat=%d transcript=%d queued as %s", chat_id, transcript_id, kind)
