"""Groups: /transcribe on request, /autotranscribe for admins, onboarding, migration."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.domain.jobs import Trigger
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram.notes import NoteDesk, note_of, sender_of
from bot.telegram.outbox import Outbox
from storage import prefs
from storage.db import Database

log = logging.getLogger(__name__)

_ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
_ABSENT = {ChatMemberStatus.LEFT, ChatMemberStatus.BANNED}


async def may_configure(message: Message, settings: Settings) -> bool:
    """Whether the sender may change a group's settings: a bot admin, an anonymous group admin
    (posting as the group), or a group admin."""
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return True
    user = message.from_user
    if user is None:
        return False
    if user.id in settings.ADMIN_IDS:
        return True
    try:
        member = await message.chat.get_member(user.id)
    except TelegramError as exc:
        log.warning("chat=%d getChatMember failed: %s", message.chat.id, exc.message)
        return False
    return member.status in _ADMIN_STATUSES


class TranscribeCommand:
    """/transcribe as a reply: transcribe that message, paid by whoever asked (a chat, when
    asked on behalf of one)."""

    def __init__(self, desk: NoteDesk) -> None:
        self.desk = desk

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        asker = sender_of(message) if message is not None else None
        if message is None or asker is None:
            return
        target = message.reply_to_message
        note = note_of(target) if target is not None else None
        if target is None or note is None:
            t = texts.of(asker.language)
            self.desk.outbox.reply(message, t(texts.TRANSCRIBE_HINT), quote=True)
            return
        await self.desk.submit(
            target, note, payer=asker, trigger=Trigger.COMMAND, answer_to=message
        )


class AutoTranscribeCommand:
    """/autotranscribe on|off: for the group's admins and the bot's admins."""

    def __init__(self, settings: Settings, db: Database, outbox: Outbox) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        t = texts.of(message.from_user.language_code if message.from_user else None)
        if message.chat.type == ChatType.PRIVATE:
            self.outbox.reply(message, t(texts.AUTOTRANSCRIBE_IN_GROUPS))
            return
        if not await may_configure(message, self.settings):
            log.info("chat=%d /autotranscribe refused", message.chat.id)
            refused = message.from_user.id if message.from_user else message.chat.id
            self.outbox.refuse(message, refused, t(texts.GROUP_ADMINS_ONLY), quote=True)
            return
        args = [a.lower() for a in context.args or []]
        if args not in (["on"], ["off"]):
            self.outbox.reply(message, t(texts.USAGE_AUTOTRANSCRIBE), quote=True)
            return
        on = args == ["on"]
        await prefs.set_auto_transcribe(self.db, message.chat.id, on)
        log.info("chat=%d auto_transcribe=%s", message.chat.id, on)
        self.outbox.reply(message, t(texts.AUTO_ON if on else texts.AUTO_OFF), quote=True)


class MembershipHandler:
    """The bot was added to a group: explain, once, how to use it there."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None or change.chat.type == ChatType.PRIVATE:
            return
        joined = (
            change.old_chat_member.status in _ABSENT
            and change.new_chat_member.status not in _ABSENT
        )
        if not joined or not await prefs.mark_onboarded(self.db, change.chat.id):
            return
        log.info("chat=%d bot added; onboarding sent", change.chat.id)
        # In the language of whoever added the bot: the group has none of its own.
        text = texts.of(change.from_user.language_code)(texts.ONBOARDING)
        chat_id = change.chat.id
        self.outbox.post(chat_id, "onboarding", lambda: context.bot.send_message(chat_id, text))


class MigrationHandler:
    """A group became a supergroup: its settings follow it to the new chat id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await prefs.migrate_chat(self.db, old, new)
        log.info("chat=%d migrated to chat=%d", old, new)
