"""The command menu Telegram clients show, in every language the bot speaks."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from bot import i18n
from bot.i18n import texts

log = logging.getLogger(__name__)


async def set_commands(bot: Bot) -> None:
    """The command menu in every UI language; Telegram shows users the one of their
    language, English (the default list) to everyone else."""
    for language in i18n.UI_LANGUAGES:
        t = texts.of(language)
        commands = [BotCommand(name, t(about)) for name, about in texts.COMMANDS.items()]
        code = None if language == i18n.DEFAULT else language
        try:
            await bot.set_my_commands(commands, language_code=code)
        except TelegramError as exc:
            # A menu is a convenience: the bot works without it.
            log.warning("command menu language=%s not set: %s", language, exc.message)
