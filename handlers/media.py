"""Media messages: hand the note to the intake, or say it is not audio."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot import texts
from bot.intake import Intake, note_of

log = logging.getLogger(__name__)


class MediaHandler:
    """A voice note, audio, video note, video or document sent to the bot in private."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        note = note_of(message)
        private = message.chat.type == ChatType.PRIVATE
        if note is None:
            if private:
                log.info("chat=%d msg=%d not audio", message.chat.id, message.message_id)
                await message.reply_text(texts.NOT_AUDIO)
            return
        # In private the sender (who is also the forwarder of a forwarded note) pays.
        await self.intake.submit(message, note, payer_id=message.from_user.id, trigger="private")
