"""/forgetme: after a confirmation button, delete everything stored about the user."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.domain.quota import period_key, resets_at
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram.keyboards import FORGET_PATTERN, forget_buttons, pressed_forget_button
from bot.telegram.outbox import Outbox
from storage.db import Database
from storage.forget import forget_user

log = logging.getLogger(__name__)

CALLBACK_PATTERN = FORGET_PATTERN
"""The buttons' data names the choice and the asker: only the asker's press counts."""


class ForgetMe:
    """/forgetme asks; the button of the same user deletes (or cancels)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        outbox: Outbox,
        forget_batches: Callable[[int], Awaitable[int]] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox
        self.forget_batches = forget_batches

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/forgetme: say what would be deleted, with Delete and Cancel buttons.

        The buttons are added once the question is sent: their data is bound to its id, the
        one thing a press always names, even on a message Telegram marks inaccessible."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        t = texts.of(user.language_code)

        async def ask_and_bind() -> None:
            question = await message.reply_text(
                t(texts.FORGET_CONFIRM), do_quote=True, allow_sending_without_reply=True
            )
            buttons = forget_buttons(
                context.bot.token,
                chat_id=question.chat.id,
                question_id=question.message_id,
                user_id=user.id,
                t=t,
            )
            try:
                await question.edit_reply_markup(buttons)
            except TelegramError as exc:
                log.warning(
                    "chat=%d /forgetme buttons not added: %s", question.chat.id, exc.message
                )

        self.outbox.post(message.chat.id, "forgetme", ask_and_bind)

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press on Delete or Cancel."""
        query = update.callback_query
        if query is None:
            return
        pressed = pressed_forget_button(context.bot.token, query.data, query.message)
        if pressed is None:
            # Data that was never on this message: it changes nothing there.
            log.info("user=%d pressed forged /forgetme data", query.from_user.id)
            await query.answer()
            return
        delete, user_id = pressed
        t = texts.of(query.from_user.language_code)
        if query.from_user.id != user_id:
            await query.answer(t(texts.FORGET_NOT_YOURS), show_alert=True)
            return
        if not delete:
            await query.answer()
            self._replace(context, query, t(texts.FORGET_CANCELLED))
            return
        period = self.settings.QUOTA_PERIOD
        if self.forget_batches is not None:
            # A note waiting for its batch is given up, not waited for.
            await self.forget_batches(user_id)
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
                vocabulary=forgotten.vocabulary,
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
