"""Guest Mode: a chat the bot was summoned to is answered with one inline message, edited from
the placeholder into progress, the transcript or the reason it was refused.

https://core.telegram.org/bots/api#answerguestquery — the answer is an inline message
(`inline_message_id`); the bot edits it, it cannot send more to that chat.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.domain.transcript import Transcript
from bot.i18n import texts
from bot.jobs.ports import Delivery, Preview, Progress
from bot.telegram import render
from bot.telegram.delivery import delivery_errors, escape
from bot.telegram.keyboards import whole_link_payload
from bot.telegram.pacing import Courtesy, Paced, Priority, paced
from bot.telegram.progress import StatusProgress
from storage.job_rows import Job

log = logging.getLogger(__name__)

GUEST = "guest"
"""The chat_kind of a job summoned by a guest message."""


async def answer_guest(bot: Bot, guest_query_id: str, html_text: str) -> str | None:
    """Answer a guest query with one message (HTML); its inline_message_id, or None when
    Telegram refused (a query answered already, or too old)."""
    result = InlineQueryResultArticle(
        id="voxgram",
        title=bot.first_name,
        input_message_content=InputTextMessageContent(html_text, parse_mode=ParseMode.HTML),
    )
    try:
        sent = await bot.answer_guest_query(guest_query_id, result)
    except TelegramError as exc:
        log.info("guest query not answered: %s", exc.message.split(":", 1)[0])
        return None
    return sent.inline_message_id


async def edit_guest(
    bot: Bot,
    inline_message_id: str,
    html_text: str,
    markup: InlineKeyboardMarkup | None = None,
    pace: Paced | None = None,
) -> None:
    """Edit the inline message; "not modified" is no error."""
    try:
        await paced(bot).edit_message_text(
            html_text,
            inline_message_id=inline_message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            rate_limit_args=pace,
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


def deep_link(username: str, payload: str) -> str:
    """A link that opens the private chat with the bot and sends it /start `payload`."""
    return f"https://t.me/{username}?start={payload}"


class GuestDelivery:
    """A guest job's outcome in its inline message; implements bot.jobs.ports.Delivery.

    A transcript longer than one message is cut at a line, with a button whose deep link gives
    the caller the whole of it in private while it is retained."""

    def __init__(self, bot: Bot, *, progress_every: float) -> None:
        self.bot = bot
        self.progress_every = progress_every

    def progress(self, job: Job) -> Progress:
        t = texts.of(job.user_language)
        inline_id = job.inline_message_id

        async def edit(_: int, text: str, courtesy: Courtesy) -> object:
            assert inline_id is not None
            await edit_guest(self.bot, inline_id, escape(text), pace=courtesy)
            return None

        return StatusProgress(job.id, self.progress_every, edit, t.progress, status_id=lambda: 0)

    async def deliver(
        self, job: Job, transcript: Transcript | None, retained_id: int | None
    ) -> None:
        t = texts.of(job.user_language)
        markup = None
        if transcript is None:
            text = escape(t(texts.NO_SPEECH))
        else:
            messages = render.render_messages(transcript, header=job.header)
            text = messages[0]
            if len(messages) > 1:
                text = render.render_preview(transcript, header=job.header, note=t(texts.GUEST_CUT))
                if retained_id is not None:
                    payload = whole_link_payload(
                        self.bot.token, user_id=job.payer_id, transcript_id=retained_id
                    )
                    url = deep_link(self.bot.username, payload)
                    button = InlineKeyboardButton(t(texts.BUTTON_WHOLE), url=url)
                    markup = InlineKeyboardMarkup([[button]])
        assert job.inline_message_id is not None
        with delivery_errors():
            await edit_guest(self.bot, job.inline_message_id, text, markup, Priority.TRANSCRIPT)

    async def report(self, job: Job, reply: str) -> None:
        if job.inline_message_id is None:
            return
        try:
            await edit_guest(self.bot, job.inline_message_id, escape(reply))
        except TelegramError as exc:
            log.info("job=%d guest report not sent: %s", job.id, exc.message.split(":", 1)[0])

    def preview(self, job: Job) -> Preview | None:
        """No live drafts in a guest chat: drafts are for private chats."""
        return None

    async def announce(self, job: Job, text: str) -> None:
        """A batch's wait, shown in the inline message."""
        if job.inline_message_id is None:
            return
        try:
            await edit_guest(self.bot, job.inline_message_id, escape(text))
        except TelegramError as exc:
            log.info("job=%d guest notice not sent: %s", job.id, exc.message.split(":", 1)[0])

    def forget(self, job_id: int) -> None:
        return None


class ByChatKind:
    """Delivery for every job: guest jobs through their inline message, others in their chat."""

    def __init__(self, chats: Delivery, guests: Delivery) -> None:
        self.chats = chats
        self.guests = guests

    def _of(self, job: Job) -> Delivery:
        return self.guests if job.chat_kind == GUEST else self.chats

    def progress(self, job: Job) -> Progress:
        return self._of(job).progress(job)

    def preview(self, job: Job) -> Preview | None:
        return self._of(job).preview(job)

    async def announce(self, job: Job, text: str) -> None:
        await self._of(job).announce(job, text)

    async def deliver(
        self, job: Job, transcript: Transcript | None, retained_id: int | None
    ) -> None:
        await self._of(job).deliver(job, transcript, retained_id)

    async def report(self, job: Job, reply: str) -> None:
        await self._of(job).report(job, reply)

    def forget(self, job_id: int) -> None:
        self.chats.forget(job_id)
        self.guests.forget(job_id)
