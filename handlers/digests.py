"""The Summary and Translate buttons under a transcript: the answer in the presser's language."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import CallbackQuery, InputFile, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import i18n
from bot.domain import retained
from bot.domain.transcript import Segment, Transcript
from bot.i18n import texts
from bot.jobs.digests import Digests, Ticket
from bot.telegram import render
from bot.telegram.delivery import MAX_MESSAGES
from bot.telegram.keyboards import DIGEST_PATTERN, pressed_transcript_button, replied_id
from bot.telegram.outbox import Outbox
from handlers.files import retained_for, thread_of
from storage import transcripts
from storage.db import Database
from storage.transcripts import Kept

log = logging.getLogger(__name__)


def language_of(language_code: str | None) -> str:
    """The ISO 639-1 code of a Telegram user's language (an IETF tag); English when unknown."""
    return (language_code or "").replace("_", "-").split("-")[0].lower() or i18n.DEFAULT


class DigestButtons:
    """A press on Summary or Translate: held against the presser's day, then asked of Mistral
    in the background (Digests), so the handler returns at once. Anyone who sees the transcript
    may press; the data only counts on the message it was put on."""

    def __init__(
        self, db: Database, clock: Callable[[], float], outbox: Outbox, digests: Digests
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.digests = digests

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        pressed = pressed_transcript_button(context.bot.token, query.data, message, DIGEST_PATTERN)
        if pressed is None or not isinstance(message, Message):
            # Data that was never on this message: it changes and sends nothing.
            log.info("user=%d pressed forged digest button data", query.from_user.id)
            await query.answer()
            return
        kind, transcript_id = pressed
        t = texts.of(query.from_user.language_code)
        kept = await retained_for(
            query, transcript_id, db=self.db, now=int(self.clock()), outbox=self.outbox, t=t
        )
        if kept is None:
            return
        transcript, _ = retained.decode(kept.body)
        language = language_of(query.from_user.language_code)
        detected = transcript.language
        if kind == "tr" and detected and language_of(detected) == language:
            name = i18n.language_name(language, t.language)
            await query.answer(t(texts.ALREADY_IN_LANGUAGE).format(language=name), show_alert=True)
            return
        ticket = await self.digests.hold(query.from_user.id)
        if ticket is None:
            await self._refuse(query, t)
            return
        await query.answer()
        self._start(ticket, kind, kept, transcript, message, language, t)

    async def _refuse(self, query: CallbackQuery, t: texts.Texts) -> None:
        """Today's presses are spent: say when they start again."""
        wait = self.digests.resets_at().timestamp() - self.clock()
        log.info("user=%d digest refused: daily limit", query.from_user.id)
        text = t(texts.DIGEST_LIMIT).format(limit=self.digests.per_day, wait=t.duration(wait))
        await query.answer(text, show_alert=True)

    def _start(
        self,
        ticket: Ticket,
        kind: str,
        kept: Kept,
        transcript: Transcript,
        message: Message,
        language: str,
        t: texts.Texts,
    ) -> None:
        """Run the summary or the translation in the background; its answer goes to the chat."""
        lines = render.transcript_lines(transcript)
        name = i18n.language_name(language, "en")
        what = "summary" if kind == "sum" else "translation"
        chat_id = message.chat.id

        async def summary() -> None:
            started = time.monotonic()
            text = await self.digests.summarize(lines, name)
            for part in render.render_note(t(texts.BUTTON_SUMMARY), text):
                self._reply(message, message.message_id, part, what)
            took = int((time.monotonic() - started) * 1000)
            log.info("chat=%d transcript=%d summary took_ms=%d", chat_id, kept.id, took)

        async def translation() -> None:
            started = time.monotonic()
            translated = await self.digests.translate(lines, name)
            note = await transcripts.note_id(self.db, kept.id) or replied_id(message)
            title = t(texts.TRANSLATED).format(language=i18n.language_name(language, t.language))
            translated_transcript = _translated(transcript, translated)
            self._send_translation(message, note, translated_transcript, title, kept, t, language)
            took = int((time.monotonic() - started) * 1000)
            log.info("chat=%d transcript=%d translation took_ms=%d", chat_id, kept.id, took)

        def failed() -> None:
            self._reply(message, message.message_id, t(texts.DIGEST_FAILED), f"{what} failure")

        self.digests.run(ticket, what, summary if kind == "sum" else translation, failed)

    def _send_translation(
        self,
        message: Message,
        note: int | None,
        translated: Transcript,
        title: str,
        kept: Kept,
        t: texts.Texts,
        language: str,
    ) -> None:
        """The translation replying to the note (its times seek in it), split like a transcript;
        past MAX_MESSAGES a preview and the whole as .txt."""
        messages = render.render_messages(translated, header=title)
        if len(messages) <= MAX_MESSAGES:
            for part in messages:
                self._reply(message, note, part, "translation")
            return
        preview = render.render_preview(translated, header=title, note=t(texts.SEE_FILE))
        self._reply(message, note, preview, "translation")
        whole = render.render_plain(translated, header=title).encode()
        name = retained.file_name(kept.created_at, f"{language}.txt")
        chat_id, thread = message.chat.id, thread_of(message)
        reply_to = ReplyParameters(note or message.message_id, allow_sending_without_reply=True)
        self.outbox.post(
            chat_id,
            "translation txt",
            lambda: message.get_bot().send_document(
                chat_id,
                InputFile(whole, filename=name),
                message_thread_id=thread,
                reply_parameters=reply_to,
            ),
        )

    def _reply(self, message: Message, to: int | None, html: str, what: str) -> None:
        """Send `html` to the pressed message's chat, replying to message `to`."""
        chat_id, thread = message.chat.id, thread_of(message)
        reply_to = ReplyParameters(to or message.message_id, allow_sending_without_reply=True)
        self.outbox.post(
            chat_id,
            what,
            lambda: message.get_bot().send_message(
                chat_id,
                html,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread,
                reply_parameters=reply_to,
            ),
        )


def _translated(transcript: Transcript, texts_: list[str]) -> Transcript:
    """The transcript with each non-blank segment's text replaced by its translation."""
    shown = [s for s in transcript.segments if s.text.split()]
    segments = tuple(
        Segment(s.start, s.end, text, s.speaker) for s, text in zip(shown, texts_, strict=False)
    )
    return Transcript(
        segments=segments,
        language=None,
        billed_seconds=transcript.billed_seconds,
        timestamps=transcript.timestamps,
    )
