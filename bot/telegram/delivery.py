"""What a job says in its chat: the transcript (editing the status message, or as a new message
after a live draft), progress, refusals."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from telegram import InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.domain import retained
from bot.domain.jobs import Trigger
from bot.domain.transcript import Transcript
from bot.i18n import texts
from bot.jobs.ports import DeliveryDeferred, DeliveryRefused, Preview, Progress
from bot.telegram import render
from bot.telegram.drafts import DRAFT_EVERY, LiveDraft
from bot.telegram.keyboards import transcript_buttons
from bot.telegram.pacing import Courtesy, Paced, PacedBot, Priority, Skipped
from bot.telegram.progress import NoProgress, StatusProgress
from bot.telegram.status import StatusBoard
from storage.job_rows import Job

log = logging.getLogger(__name__)

MAX_MESSAGES = 3
"""Past this many messages the transcript comes as a .txt document with a preview in chat."""
TRANSCRIPT = Priority.TRANSCRIPT


@dataclass
class _Sent:
    """What of one transcript is in the chat already."""

    first_id: int | None = None
    """The first part's message, which the others reply to."""
    parts: int = 0
    document: bool = False


class TelegramDelivery:
    """Sends a job's outcome to its chat; implements bot.jobs.ports.Delivery."""

    def __init__(
        self,
        bot: PacedBot,
        status: StatusBoard,
        *,
        progress_every: float,
        live: bool = False,
        draft_every: float = DRAFT_EVERY,
    ) -> None:
        self.bot = bot
        self.status = status
        self.progress_every = progress_every
        self.live = live
        """LIVE_TRANSCRIPTS: private chats get a draft while Mistral streams, no status message."""
        self.draft_every = draft_every
        self._sent: dict[int, _Sent] = {}
        """Parts of each job's transcript already out, in this process."""

    def progress(self, job: Job) -> Progress:
        if job.trigger == Trigger.AUTO:
            return NoProgress()
        t = texts.of(job.user_language)

        async def edit(message_id: int, text: str, courtesy: Courtesy) -> object:
            return await self._edit(job, message_id, escape(text), pace=courtesy)

        return StatusProgress(
            job.id,
            self.progress_every,
            edit,
            t.progress,
            status_id=lambda: job.status_message_id or self.status.known(job.id),
        )

    def preview(self, job: Job) -> Preview | None:
        """A live draft in a private chat; none where a status message shows the progress (a
        job queued with one before a restart keeps it)."""
        if not self.live or job.chat_type != ChatType.PRIVATE or job.status_message_id:
            return None
        return LiveDraft(self.bot, job, every=self.draft_every)

    def forget(self, job_id: int) -> None:
        self.status.forget(job_id)
        self._sent.pop(job_id, None)

    async def deliver(
        self, job: Job, transcript: Transcript | None, retained_id: int | None
    ) -> None:
        """Edit the status message into the first part (without one, as after a live draft or
        when it was not on its way yet, send it as a reply to the note); further parts and the
        file reply to the first; the buttons go under the last part; all go before courtesy.
        Parts already out (an earlier call for this job) are not sent again. Raises
        DeliveryDeferred when Telegram may take it later and DeliveryRefused when it never
        will."""
        t = texts.of(job.user_language)

        def buttons(reply_to: int) -> InlineKeyboardMarkup | None:
            """The buttons for a part replying to `reply_to`: their data is bound to it."""
            if retained_id is None:
                return None
            return transcript_buttons(
                self.bot.token,
                chat_id=job.chat_id,
                reply_to=reply_to,
                transcript_id=retained_id,
                t=t,
            )

        if transcript is None:
            messages, document = [escape(t(texts.NO_SPEECH))], None
        else:
            messages, document = _render(job, transcript, t)
        sent = self._sent.setdefault(job.id, _Sent())
        with delivery_errors():
            await self._send_all(job, messages, document, buttons, sent)

    async def _send_all(
        self,
        job: Job,
        messages: list[str],
        document: tuple[str, bytes] | None,
        buttons: Callable[[int], InlineKeyboardMarkup | None],
        sent: _Sent,
    ) -> None:
        """Send what `sent` does not hold yet, recording each part as it goes out."""
        if sent.first_id is None:
            status_id = await self.status.take(job.id, job.status_message_id)
            first_markup = buttons(job.message_id) if len(messages) == 1 else None
            first_id: int | None = None
            if status_id is not None:
                first_id = await self._edit(job, status_id, messages[0], first_markup, TRANSCRIPT)
            if first_id is None:
                message = await self._send(
                    job, messages[0], reply_to=job.message_id, markup=first_markup, pace=TRANSCRIPT
                )
                first_id = message.message_id
            sent.first_id, sent.parts = first_id, 1
        for n in range(sent.parts + 1, len(messages) + 1):
            markup = buttons(sent.first_id) if n == len(messages) else None
            await self._send(
                job, messages[n - 1], reply_to=sent.first_id, markup=markup, pace=TRANSCRIPT
            )
            sent.parts = n
        if document is not None and not sent.document:
            name, data = document
            await self.bot.send_document(
                job.chat_id,
                InputFile(data, filename=name),
                message_thread_id=job.thread_id,
                reply_parameters=ReplyParameters(sent.first_id, allow_sending_without_reply=True),
                rate_limit_args=TRANSCRIPT,
            )
            sent.document = True

    async def announce(self, job: Job, text: str) -> None:
        """Edit the status message into `text`; a failure only costs the notice. It is an answer,
        not a courtesy: the transcript it announces may be hours away, so it is never skipped."""
        status_id = await self.status.wait(job.id, job.status_message_id)
        if status_id is not None:
            await _quietly(self._edit(job, status_id, escape(text), pace=Priority.ANSWER))

    async def report(self, job: Job, reply: str) -> None:
        """Tell the user why the job failed (quiet in a group's auto mode)."""
        status_id = await self.status.take(job.id, job.status_message_id)
        if job.trigger == Trigger.AUTO:
            if status_id is not None:
                await _quietly(self.bot.delete_message(job.chat_id, status_id))
            return
        text = escape(reply)
        try:
            if status_id is not None and await self._edit(job, status_id, text):
                return
        except TelegramError as exc:
            # Blocked, gone or unreachable: a refusal is not worth more than one try.
            log.info("job=%d chat=%d report not sent: %s", job.id, job.chat_id, _reason(exc))
            return
        await _quietly(self._send(job, text, reply_to=job.message_id))

    async def _edit(
        self,
        job: Job,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        pace: Paced | None = None,
    ) -> int | None:
        """Edit a message of the job's chat; its id, or None when it cannot be edited."""
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=job.chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                rate_limit_args=pace,
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return message_id
            if _chat_gone(exc):
                raise
            log.info("job=%d status message not editable (%s): sending anew", job.id, exc.message)
            return None
        return message_id

    async def _send(
        self,
        job: Job,
        text: str,
        *,
        reply_to: int,
        markup: InlineKeyboardMarkup | None = None,
        pace: Paced | None = None,
    ) -> Message:
        # allow_sending_without_reply: the note may have been deleted meanwhile.
        try:
            return await self.bot.send_message(
                job.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=job.thread_id,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True),
                reply_markup=markup,
                rate_limit_args=pace,
            )
        except BadRequest as exc:
            if not _chat_gone(exc):
                log.error(
                    "job=%d send refused: %s (chars=%d)",
                    job.id,
                    _reason(exc),
                    render.utf16_len(text),
                )
            raise


def _render(
    job: Job, transcript: Transcript, t: texts.Texts
) -> tuple[list[str], tuple[str, bytes] | None]:
    """The transcript in chat; past MAX_MESSAGES a preview in chat and the whole as .txt."""
    speaker, notes = t(texts.SPEAKER), t.notices(transcript.notices)
    messages = render.render_messages(transcript, header=job.header, speaker=speaker, notes=notes)
    if len(messages) <= MAX_MESSAGES:
        return messages, None
    preview = render.render_preview(
        transcript, header=job.header, note=t(texts.SEE_FILE), speaker=speaker, notes=notes
    )
    whole = render.render_plain(transcript, header=job.header, speaker=speaker, notes=notes)
    return [preview], (retained.file_name(job.created_at, "txt"), whole.encode())


@contextlib.contextmanager
def delivery_errors() -> Iterator[None]:
    """Telegram's errors as the Delivery protocol's: DeliveryDeferred when Telegram may take
    the message later, DeliveryRefused when it never will."""
    try:
        yield
    except RetryAfter as exc:
        raise DeliveryDeferred("flood control", _seconds(exc.retry_after)) from exc
    except Forbidden as exc:
        raise DeliveryRefused(_reason(exc), gone=True) from exc
    except BadRequest as exc:
        # BadRequest is a NetworkError in PTB: told apart before passing trouble.
        raise DeliveryRefused(_reason(exc), gone=_chat_gone(exc)) from exc
    except NetworkError as exc:
        # 5xx, timeouts (TimedOut) and dropped connections.
        raise DeliveryDeferred(f"{type(exc).__name__}: {_reason(exc)}") from exc
    except TelegramError as exc:
        raise DeliveryRefused(f"{type(exc).__name__}: {_reason(exc)}", gone=False) from exc


async def _quietly(call: Awaitable[object]) -> None:
    try:
        await call
    except Skipped:
        pass  # logged by the pacing
    except TelegramError as exc:
        log.info("telegram refused a courtesy message: %s", exc.message)


def _chat_gone(exc: BadRequest) -> bool:
    """Telegram no longer knows the chat (deleted, or the bot was never let in again)."""
    return "chat not found" in exc.message.lower()


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _reason(exc: TelegramError) -> str:
    """Telegram's reason without what may follow a colon: "can't parse entities: …" quotes
    the text that was sent, and transcript text stays out of the logs."""
    return exc.message.split(":", 1)[0]


def escape(text: str) -> str:
    """Escape a plain-text message for HTML parse mode."""
    return html.escape(text, quote=False)
