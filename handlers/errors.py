"""The error handler, and the answer to a button no other handler knows."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.i18n import texts

log = logging.getLogger(__name__)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on a button no handler knows (from an older version, say): answered silently,
    or the client shows its spinner until Telegram gives up."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One error handler: log with ids only; the user gets a short apology in private."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update=%s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update):
        return
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    t = texts.of(user.language_code if user else None)
    try:
        await message.reply_text(t(texts.FAILED))
    except Exception:
        log.warning("update=%s apology not sent", update_id)
