"""Media messages: hand the note to the intake, or say it is not audio."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.domain.jobs import Trigger
from bot.domain.notes import AUTO_KINDS
from bot.i18n import texts
from bot.telegram.notes import NoteDesk, note_of, sender_of
from storage import prefs
from storage.db import Database

log = logging.getLogger(__name__)


class MediaHandler:
    """A voice note, audio, video note, video or document sent to the bot or in a group."""

    def __init__(self, desk: NoteDesk, db: Database) -> None:
        self.desk = desk
        self.db = db

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        sender = sender_of(message) if message is not None else None
        if message is None or sender is None:
            return
        note = note_of(message)
        if message.chat.type == ChatType.PRIVATE:
            if note is None:
                log.info("chat=%d msg=%d not audio", message.chat.id, message.message_id)
                t = texts.of(sender.language)
                self.desk.outbox.refuse(message, sender.id, t(texts.NOT_AUDIO))
                return
            # The sender pays; for a forwarded note that is the forwarder.
            await self.desk.submit(message, note, payer=sender, trigger=Trigger.PRIVATE)
            return
        if note is None or note.kind not in AUTO_KINDS:
            return
        if not await prefs.auto_transcribe(self.db, message.chat.id):
            return
        # Auto mode: the poster (or forwarder) pays; a channel or anonymous admin as that chat.
        await self.desk.submit(message, note, payer=sender, trigger=Trigger.AUTO)
