"""The error handler, and the answer to a button no other handler knows."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.i18n import texts
from bot.telegram.outbox import Outbox

log = logging.getLogger(__name__)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on a button no handler knows (from an older version, say): answered silently,
    or the client shows its spinner until Telegram gives up."""
    if update.callback_query is not None:
        await update.callback_query.answer()


class ErrorHandler:
    """One error handler: log with ids only; the user gets a short apology in private."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def __call__(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update=%s failed", update_id, exc_info=context.error)
        if not isinstance(update, Update):
            return
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        user = update.effective_user
        t = texts.of(user.language_code if user else None)
        self.outbox.reply(message, t(texts.FAILED), what="apology")
