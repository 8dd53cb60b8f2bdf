"""Transcription options: /speakers (who speaks on each line) and /vocab (names and terms).

Like /language: one's own notes in private; the group's (group admins only) in a group.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.domain.options import MAX_TERMS, term_problem
from bot.i18n import texts
from bot.settings import Settings
from bot.telegram.outbox import Outbox
from handlers.groups import may_configure
from storage import prefs, vocabulary
from storage.db import Database

log = logging.getLogger(__name__)


class _OptionCommand:
    """What both commands share: who asks, where, and whether they may change it."""

    def __init__(self, settings: Settings, db: Database, outbox: Outbox) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox

    async def _may_change(self, message: Message, user_id: int, t: texts.Texts) -> bool:
        """True in private; in a group, for its admins only (others get a refusal)."""
        if message.chat.type == ChatType.PRIVATE or await may_configure(message, self.settings):
            return True
        log.info("chat=%d user=%d option change refused", message.chat.id, user_id)
        self.outbox.refuse(message, user_id, t(texts.GROUP_ADMINS_ONLY), quote=True)
        return False


class SpeakersCommand(_OptionCommand):
    """/speakers on | off: label who speaks on each line; /speakers alone says which."""

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        t = texts.of(user.language_code)
        group = message.chat.type != ChatType.PRIVATE
        chat_id = message.chat.id if group else None
        args = [a.lower() for a in context.args or []]
        pinned = await prefs.recognition_language(self.db, chat_id=chat_id, user_id=user.id)
        if not args:
            on = await prefs.speakers(self.db, chat_id=chat_id, user_id=user.id)
            state = t.speakers_state(on, group=group, pinned=pinned is not None)
            self.outbox.reply(message, f"{state}\n{t(texts.USAGE_SPEAKERS)}")
            return
        if not await self._may_change(message, user.id, t):
            return
        if len(args) != 1 or args[0] not in ("on", "off"):
            self.outbox.reply(message, t(texts.USAGE_SPEAKERS))
            return
        on = args[0] == "on"
        if group:
            await prefs.set_chat_speakers(self.db, message.chat.id, on)
        else:
            await prefs.set_user_speakers(self.db, user.id, on)
        log.info("chat=%d user=%d speakers=%s", message.chat.id, user.id, args[0])
        self.outbox.reply(message, t.speakers_state(on, group=group, pinned=pinned is not None))


class VocabCommand(_OptionCommand):
    """/vocab term …: add names and terms; /vocab alone lists them; /vocab clear empties it."""

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        t = texts.of(user.language_code)
        group = message.chat.type != ChatType.PRIVATE
        scope, owner = vocabulary.owner(chat_id=message.chat.id if group else None, user_id=user.id)
        args = context.args or []
        if not args:
            listed = await vocabulary.terms(self.db, scope, owner)
            self.outbox.reply(message, t.vocabulary(listed, group=group))
            return
        if not await self._may_change(message, user.id, t):
            return
        if len(args) == 1 and args[0].lower() == "clear":
            removed = await vocabulary.clear(self.db, scope, owner)
            log.info(
                "chat=%d user=%d vocabulary cleared terms=%d", message.chat.id, user.id, removed
            )
            self.outbox.reply(message, t.vocabulary_cleared(removed))
            return
        for term in args:
            problem = term_problem(term)
            if problem is not None:
                self.outbox.reply(message, t.bad_term(term, problem))
                return
        added = await vocabulary.add(self.db, scope, owner, args, MAX_TERMS)
        # Terms are the user's words: only their count goes to the log.
        log.info(
            "chat=%d user=%d vocabulary added=%d total=%d fitted=%s",
            message.chat.id,
            user.id,
            len(added.added),
            added.total,
            added.fitted,
        )
        if not added.fitted:
            self.outbox.reply(message, t.vocabulary_full(added.total))
            return
        self.outbox.reply(message, t.vocabulary_added(added.added, added.total))
