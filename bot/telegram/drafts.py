"""Live transcripts in private chats: the lines so far shown as a message draft.

A draft (sendMessageDraft) is an ephemeral preview of about 30 seconds in a private chat; the
transcript itself is then sent with sendMessage. Drafts are a courtesy: they skip the bot's
pacing (bot.telegram.pacing), are never retried, and never hold up the transcript.
https://core.telegram.org/bots/api#sendmessagedraft
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.domain.transcript import Transcript
from bot.telegram import render
from storage.job_rows import Job

log = logging.getLogger(__name__)

DRAFT_EVERY = 1.0
"""Seconds between two drafts of one note, at least: about Telegram's pace for one chat."""
PLACEHOLDER_AFTER = 0.1
"""Seconds the "thinking" placeholder waits after the job starts: the note's download, probe and
upload, which the transcript waits for, take the CPU first, and the placeholder goes out while
Mistral works. Lines that come sooner are sent instead of it."""
REFRESH_SECONDS = 20.0
"""An unchanged draft is sent again after this long, before Telegram lets it fade (30 s)."""


class LiveDraft:
    """Shows one note's transcript in the making as a draft in its private chat.

    A single task sends the drafts: the "thinking" placeholder (an empty text) after
    `placeholder_after` seconds, the first lines as soon as they come, then the latest lines
    at most once per `every` seconds. While a draft request is in flight the newer lines wait,
    and only the latest of them goes next: a draft that would be late is skipped. A failed
    draft is logged and skipped; a 429 pauses this note's drafts for the time Telegram asked;
    a refusal (400, 403) ends them.
    close() cancels it all at once.
    """

    def __init__(
        self,
        bot: Bot,
        job: Job,
        *,
        every: float = DRAFT_EVERY,
        placeholder_after: float = PLACEHOLDER_AFTER,
    ) -> None:
        self._bot = bot
        self._job = job
        self._every = every
        self._placeholder_after = placeholder_after
        self._latest: Transcript | None = None
        self._changed = asyncio.Event()
        self._resume_at = 0.0
        self._task = asyncio.create_task(self._run(), name=f"draft-job{job.id}")

    def show(self, partial: Transcript) -> None:
        self._latest = partial
        self._changed.set()

    def close(self) -> None:
        # Not awaited: the transcript goes out now, whatever a draft request is doing.
        self._task.cancel()

    async def _run(self) -> None:
        try:
            await self._pump()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job=%d drafts stopped", self._job.id)

    async def _pump(self) -> None:
        text = ""  # the "thinking" placeholder until the first lines come
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._placeholder_after):
                await self._changed.wait()
        self._changed.clear()
        if self._latest is not None:
            text = render.render_tail(self._latest)
        while await self._send(text):
            sent_at = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_SECONDS):
                    await self._changed.wait()
            # The first words follow the placeholder at once: the pace is between drafts of
            # lines, and the placeholder is none.
            pace = self._every if text else 0.0
            ready_at = max(sent_at + pace, self._resume_at)
            await asyncio.sleep(max(0.0, ready_at - time.monotonic()))
            self._changed.clear()
            if self._latest is not None:
                text = render.render_tail(self._latest)

    async def _send(self, text: str) -> bool:
        """Send one draft; False when drafts should stop for this note."""
        job = self._job
        try:
            await self._bot.send_message_draft(
                job.chat_id,
                job.id,  # a job's id: non-zero and unique per note, as draft_id must be
                text,
                message_thread_id=job.thread_id,
                parse_mode=ParseMode.HTML,
            )
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            self._resume_at = time.monotonic() + wait
            log.info("job=%d draft skipped: flood control, next in %.0fs", job.id, wait)
        except (BadRequest, Forbidden) as exc:
            log.info("job=%d drafts stopped: %s", job.id, exc.message.split(":", 1)[0])
            return False
        except TelegramError as exc:
            log.info("job=%d draft skipped: %s", job.id, type(exc).__name__)
        return True


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
