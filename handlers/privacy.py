"""/forgetme: after a confirmation button, delete everything stored about the user."""

from __future__ import annotations

import logging
import re

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.domain.quota import period_key, resets_at
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram.outbox import Outbox
from storage.db import Database
from storage.forget import forget_user

log = logging.getLogger(__name__)

# "forget:yes:<user id>" / "forget:no:<user id>": only that user's press counts.
CALLBACK_PATTERN = re.compile(r"^forget:(yes|no):(\d{1,18})$")


class ForgetMe:
    """/forgetme asks; the button of the same user deletes (or cancels)."""

    def __init__(self, settings: Settings, db: Database, outbox: Outbox) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/forgetme: say what would be deleted, with Delete and Cancel buttons."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        t = texts.of(user.language_code)
        yes = InlineKeyboardButton(t(texts.FORGET_YES), callback_data=f"forget:yes:{user.id}")
        no = InlineKeyboardButton(t(texts.FORGET_NO), callback_data=f"forget:no:{user.id}")
        self.outbox.reply(
            message,
            t(texts.FORGET_CONFIRM),
            reply_markup=InlineKeyboardMarkup([[yes, no]]),
            quote=True,
        )

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press on Delete or Cancel."""
        query = update.callback_query
        if query is None:
            return
        match = CALLBACK_PATTERN.match(query.data or "")
        if match is None:
            await query.answer()
            return
        choice, user_id = match[1], int(match[2])
        t = texts.of(query.from_user.language_code)
        if query.from_user.id != user_id:
            await query.answer(t(texts.FORGET_NOT_YOURS), show_alert=True)
            return
        if choice == "no":
            await query.answer()
            self._replace(context, query, t(texts.FORGET_CANCELLED))
            return
        period = self.settings.QUOTA_PERIOD
        forgotten = await forget_user(self.db, user_id, period_key(period))
        if forgotten is None:
            await query.answer(t(texts.FORGET_BUSY), show_alert=True)
            return
        log.info(
            "user=%d forgotten: jobs=%d periods=%d transcripts=%d carried_secs=%d",
            user_id,
            forgotten.jobs,
            forgotten.periods,
            forgotten.transcripts,
            forgotten.carried_seconds,
        )
        await query.answer()
        self._replace(
            context,
            query,
            t.forgotten(
                jobs=forgotten.jobs,
                periods=forgotten.periods,
                transcripts=forgotten.transcripts,
                language=forgotten.language,
                kept_quota=forgotten.kept_quota,
                kept_block=forgotten.kept_block,
                carried=forgotten.carried_seconds,
                period=period.value,
                reset_at=resets_at(period),
            ),
        )

    def _replace(self, context: ContextTypes.DEFAULT_TYPE, query: CallbackQuery, text: str) -> None:
        """Replace the question with `text`, addressed by the ids the callback carries:
        Telegram may send the message as an InaccessibleMessage, which has no edit shortcut."""
        message = query.message
        if message is None:
            return
        chat_id, message_id = message.chat.id, message.message_id
        self.outbox.post(
            chat_id,
            "edit",
            lambda: context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id),
        )
