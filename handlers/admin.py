"""The bot admins' commands: quotas, usage resets, blocks, stats."""

from __future__ import annotations

import logging

from telegram import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.ext import ContextTypes

from bot.domain.ids import parse_id, parse_seconds
from bot.domain.quota import UNLIMITED, period_key
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram.notes import sender_of
from bot.telegram.outbox import Outbox
from storage import usage
from storage.db import Database

log = logging.getLogger(__name__)


class AdminCommands:
    """One object for all admin commands; each refuses non-admins before touching anything."""

    def __init__(self, settings: Settings, db: Database, outbox: Outbox) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox

    async def _admin_message(self, update: Update) -> Message | None:
        """The command's message if its sender is a bot admin; otherwise refuse and None."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return None
        if user.id not in self.settings.ADMIN_IDS:
            log.info("user=%d refused an admin command", user.id)
            self.outbox.refuse(message, user.id, texts.of(user.language_code)(texts.ADMIN_ONLY))
            return None
        return message

    async def setquota(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/setquota <user_id> <seconds|unlimited>, or as a reply with only the amount; a
        negative id is a chat that posts as itself (a channel, a group's anonymous admins)."""
        message = await self._admin_message(update)
        if message is None:
            return
        t = _texts(update)
        args = context.args or []
        replied = message.reply_to_message
        target: int | None = None
        amount: int | None = None
        if len(args) == 2:
            target, amount = parse_id(args[0]), _amount(args[1])
        elif len(args) == 1 and replied is not None:
            if isinstance(replied.forward_origin, MessageOriginHiddenUser):
                # The forwarder is not the author, and the author's id is not given to bots.
                self.outbox.reply(message, t(texts.SENDER_HIDDEN))
                return
            target, amount = _author(replied), _amount(args[0])
        if target is None or amount is None:
            self.outbox.reply(message, t(texts.USAGE_SETQUOTA))
            return
        assert update.effective_user is not None
        await usage.set_quota(self.db, target, amount, by=update.effective_user.id)
        log.info("admin=%d set quota user=%d secs=%d", update.effective_user.id, target, amount)
        self.outbox.reply(message, t.quota_set(target, None if amount == UNLIMITED else amount))

    async def resetusage(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/resetusage <user_id>: zero that user's usage for the current period."""
        message = await self._admin_message(update)
        if message is None:
            return
        t = _texts(update)
        target = _single_user_id(context.args)
        if target is None:
            self.outbox.reply(message, t(texts.USAGE_RESETUSAGE))
            return
        cleared = await usage.reset_usage(self.db, target, period_key(self.settings.QUOTA_PERIOD))
        log.info("usage reset user=%d cleared_secs=%d", target, cleared)
        self.outbox.reply(message, t.usage_reset(target, cleared))

    async def block(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/block <user_id>: that user's media is ignored from now on."""
        await self._set_blocked(update, context, blocked=True)

    async def unblock(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unblock <user_id>."""
        await self._set_blocked(update, context, blocked=False)

    async def _set_blocked(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, *, blocked: bool
    ) -> None:
        message = await self._admin_message(update)
        if message is None:
            return
        t = _texts(update)
        target = _single_user_id(context.args)
        if target is None:
            self.outbox.reply(message, t(texts.USAGE_BLOCK if blocked else texts.USAGE_UNBLOCK))
            return
        await usage.set_blocked(self.db, target, blocked)
        log.info("user=%d blocked=%s", target, blocked)
        self.outbox.reply(message, t.blocked(target, blocked=blocked))

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats: users, seconds this period, jobs done and failed, top users."""
        message = await self._admin_message(update)
        if message is None:
            return
        t = _texts(update)
        if context.args:
            self.outbox.reply(message, t(texts.USAGE_STATS))
            return
        period = self.settings.QUOTA_PERIOD
        figures = await usage.stats(self.db, period_key(period))
        self.outbox.reply(
            message,
            t.stats(
                users=figures.users,
                seconds=figures.seconds,
                done=figures.jobs_done,
                failed=figures.jobs_failed,
                top=figures.top,
                period=period.value,
                batch=figures.batch_seconds,
            ),
        )


def _texts(update: Update) -> texts.Texts:
    """The bot's words in the sender's language."""
    user = update.effective_user
    return texts.of(user.language_code if user else None)


def _author(message: Message) -> int | None:
    """Who wrote a message (the original sender of a forward), as the id they pay under: a
    chat's id for what was sent on behalf of a chat. The caller handles hidden senders."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.id
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.id
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.id
    sender = sender_of(message)
    return sender.id if sender else None


def _single_user_id(args: list[str] | None) -> int | None:
    return parse_id(args[0]) if args and len(args) == 1 else None


def _amount(value: str) -> int | None:
    """Seconds per period, or UNLIMITED for the word 'unlimited'."""
    if value.lower() == "unlimited":
        return UNLIMITED
    return parse_seconds(value)
