"""Commands anyone may use: /start, /help, /usage, /language."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import ContextTypes

from bot.domain.ids import parse_id
from bot.domain.languages import AUTO, LANGUAGES
from bot.i18n import texts
from bot.jobs.quotas import Quotas
from bot.settings import Settings
from bot.telegram.notes import sender_of
from bot.telegram.outbox import Outbox
from handlers.groups import may_configure
from storage import prefs
from storage.db import Database

log = logging.getLogger(__name__)


class HelpCommand:
    """/start and /help: what the bot does and how to use it in groups."""

    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        t = texts.of(user.language_code if user else None)
        admin = user is not None and user.id in self.settings.ADMIN_IDS
        self.outbox.reply(message, t.help(admin=admin), parse_mode=ParseMode.HTML)


class UsageCommand:
    """/usage: one's own seconds used and left; /usage <user_id> is the admins'."""

    def __init__(self, settings: Settings, quotas: Quotas, outbox: Outbox) -> None:
        self.settings = settings
        self.quotas = quotas
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        # Sent on behalf of a chat (anonymous admins): that chat's standing, as it pays.
        sender = sender_of(message) if message is not None else None
        if message is None or sender is None:
            return
        t = texts.of(sender.language)
        args = context.args or []
        target: int | None = None  # None: one's own
        if args:
            if sender.id not in self.settings.ADMIN_IDS:
                self.outbox.refuse(message, sender.id, t(texts.ADMIN_ONLY))
                return
            target = parse_id(args[0]) if len(args) == 1 else None
            if target is None:
                self.outbox.reply(message, t(texts.USAGE_USAGE))
                return
        self.outbox.reply(message, await usage_report(self.quotas, t, sender.id, target))


class LanguageCommand:
    """/language <code> | auto: one's own notes in private; the group's (admins only) in a group."""

    def __init__(self, settings: Settings, db: Database, outbox: Outbox) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        t = texts.of(user.language_code)
        group = message.chat.type != ChatType.PRIVATE
        chat_id = message.chat.id if group else None
        args = [a.lower() for a in context.args or []]
        if not args:
            current = await prefs.recognition_language(self.db, chat_id=chat_id, user_id=user.id)
            self.outbox.reply(message, t.language_current(current, group=group))
            return
        if group and not await may_configure(message, self.settings):
            log.info("chat=%d /language refused", message.chat.id)
            self.outbox.refuse(message, user.id, t(texts.GROUP_ADMINS_ONLY), quote=True)
            return
        if len(args) != 1:
            self.outbox.reply(message, t(texts.USAGE_LANGUAGE))
            return
        code = args[0]
        if code != AUTO and code not in LANGUAGES:
            self.outbox.reply(message, t.unknown_language(code[:16]))
            return
        language = None if code == AUTO else code
        if group:
            await prefs.set_chat_language(self.db, message.chat.id, language)
        else:
            await prefs.set_user_language(self.db, user.id, language)
        log.info("chat=%d user=%d language=%s", message.chat.id, user.id, code)
        self.outbox.reply(
            message,
            t.language_auto(group=group)
            if language is None
            else t.language_set(language, group=group),
        )


async def usage_report(quotas: Quotas, t: texts.Texts, asker: int, target: int | None) -> str:
    """The /usage text: the asker's own (target None) or, for admins, another user's."""
    standing = await quotas.standing(asker if target is None else target)
    return t.usage_line(
        user_id=target,
        used=standing.used,
        reserved=standing.reserved,
        quota=standing.limit,
        period=quotas.policy.period.value,
        reset_at=quotas.policy.resets_at(),
        blocked=standing.blocked,
        batch=standing.batch,
    )
