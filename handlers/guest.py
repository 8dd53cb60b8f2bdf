"""Guest Mode: a mention of the bot in reply to a note, in a chat the bot is not in; and the
deep link that gives the caller a long transcript whole, in private."""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.domain import retained
from bot.domain.jobs import Trigger
from bot.domain.notes import NoteRequest
from bot.i18n import texts
from bot.jobs.intake import Intake, Verdict
from bot.telegram import render
from bot.telegram.delivery import escape
from bot.telegram.guest import GUEST, answer_guest, edit_guest
from bot.telegram.keyboards import whole_link_opened
from bot.telegram.notes import note_of, origin_name, sender_of
from bot.telegram.outbox import Outbox
from bot.telegram.pacing import Priority, paced
from handlers.commands import HelpCommand
from storage import transcripts
from storage.db import Database

log = logging.getLogger(__name__)


class GuestMessages:
    """Every guest_message: one inline message answers it at once (the placeholder, or a
    one-line how-to without a note), then the job edits it; the caller pays."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.guest_message
        caller = sender_of(message) if message is not None else None
        if message is None or not message.guest_query_id or caller is None:
            return
        t = texts.of(caller.language)
        replied = message.reply_to_message
        note = note_of(replied) if replied is not None else None
        if replied is None or note is None:
            await answer_guest(context.bot, message.guest_query_id, escape(t(texts.GUEST_HOWTO)))
            return
        inline_id = await answer_guest(context.bot, message.guest_query_id, escape(t(texts.STATUS)))
        if inline_id is None:
            return
        author = sender_of(replied)
        request = NoteRequest(
            note=note,
            chat_id=message.chat.id,
            chat_type=message.chat.type,
            # Negated: a guest chat's id may be one of the bot's own chats (storage.jobs).
            message_id=-message.message_id,
            thread_id=None,
            payer_id=caller.id,
            payer_language=caller.language,
            author_id=author.id if author else None,
            trigger=Trigger.GUEST,
            forwarded_from=origin_name(replied),
            chat_kind=GUEST,
            inline_message_id=inline_id,
        )
        admission = await self.intake.admit(request)
        if admission.verdict is Verdict.QUEUED:
            return
        reply = admission.reply or t(texts.FAILED)
        await edit_guest(context.bot, inline_id, escape(reply))


class WholeTranscript:
    """/start <payload> from a Guest Mode button: the whole transcript (text and .txt) to the
    caller it was made for, while it is retained; any other /start is the help."""

    def __init__(
        self, db: Database, clock: Callable[[], float], outbox: Outbox, help_: HelpCommand
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.help = help_

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        payload = context.args[0] if context.args else ""
        transcript_id = whole_link_opened(context.bot.token, payload, user_id=user.id)
        if transcript_id is None:
            await self.help(update, context)
            return
        t = texts.of(user.language_code)
        kept = await transcripts.get(self.db, transcript_id, now=int(self.clock()))
        if kept is None:
            self.outbox.reply(message, t(texts.WHOLE_GONE))
            return
        transcript, header = retained.decode(kept.body)
        parts = render.render_messages(transcript, header=header)
        name = retained.file_name(kept.created_at, "txt")
        data = render.render_plain(transcript, header=header).encode()
        chat_id, bot = message.chat.id, paced(context.bot)

        async def send() -> None:
            for part in parts:
                await bot.send_message(
                    chat_id, part, parse_mode=ParseMode.HTML, rate_limit_args=Priority.TRANSCRIPT
                )
            await bot.send_document(
                chat_id, InputFile(data, filename=name), rate_limit_args=Priority.TRANSCRIPT
            )

        self.outbox.post(chat_id, "whole transcript", send)
        log.info("user=%d transcript=%d sent whole", user.id, transcript_id)
