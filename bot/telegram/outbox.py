"""Replies sent in the background, so that handlers never wait on a chat's pacing.

A handler returns once its database work is committed; what it says goes into its chat's
queue here and is sent by one task per chat, in order, at the pace PTB's rate limiter allows
(about one message every three seconds in a group). A chat with `per_chat` replies waiting
gets further ones dropped with a log line: 300 commands in a group cost that group minutes of
replies at most, never another chat's. Refusals are paced per user as well: a user gets at
most one every `refusal_every` seconds, the rest are only logged.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, Message
from telegram.error import TelegramError

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Item:
    what: str
    send: Send
    dropped: Callable[[], None] | None


class Outbox:
    """Per-chat queues of sends, each drained by its own task while it has any."""

    def __init__(
        self,
        *,
        per_chat: int = 20,
        refusal_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_chat = per_chat
        self.refusal_every = refusal_every
        self.clock = clock
        self._queues: dict[int, collections.deque[_Item]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._refused: dict[int, float] = {}

    def post(
        self, chat_id: int, what: str, send: Send, *, dropped: Callable[[], None] | None = None
    ) -> bool:
        """Queue `send()` for the chat; False (and `dropped()` called) when its queue is full."""
        queue = self._queues.setdefault(chat_id, collections.deque())
        if len(queue) >= self.per_chat:
            log.warning("chat=%d %s dropped: %d replies waiting", chat_id, what, len(queue))
            if dropped is not None:
                dropped()
            return False
        queue.append(_Item(what, send, dropped))
        if chat_id not in self._tasks:
            self._tasks[chat_id] = asyncio.create_task(
                self._drain(chat_id, queue), name=f"outbox:{chat_id}"
            )
        return True

    def reply(
        self,
        message: Message,
        text: str,
        *,
        quote: bool | None = None,
        parse_mode: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        what: str = "reply",
    ) -> None:
        """Reply to `message` in the background; quoted, it is sent even if `message` was
        deleted meanwhile."""
        self.post(
            message.chat.id,
            what,
            lambda: message.reply_text(
                text,
                do_quote=quote,
                allow_sending_without_reply=True if quote else None,
                parse_mode=parse_mode,
                reply_markup=reply_markup,
            ),
        )

    def refuse(
        self, message: Message, user_id: int, text: str, *, quote: bool | None = None
    ) -> None:
        """A refusal to `user_id`: sent unless they were refused within `refusal_every` s."""
        now = self.clock()
        last = self._refused.get(user_id)
        if last is not None and now - last < self.refusal_every:
            log.info(
                "chat=%d user=%d refusal not sent: one per %g s",
                message.chat.id,
                user_id,
                self.refusal_every,
            )
            return
        if len(self._refused) > 10_000:
            self._refused = {u: t for u, t in self._refused.items() if now - t < self.refusal_every}
        self._refused[user_id] = now
        self.reply(message, text, quote=quote, what="refusal")

    async def _drain(self, chat_id: int, queue: collections.deque[_Item]) -> None:
        try:
            while queue:
                item = queue[0]
                try:
                    await item.send()
                except TelegramError as exc:
                    log.warning("chat=%d %s not sent: %s", chat_id, item.what, exc.message)
                except Exception as exc:
                    log.error("chat=%d %s not sent: %s", chat_id, item.what, type(exc).__name__)
                queue.popleft()
        finally:
            for item in queue:
                if item.dropped is not None:
                    item.dropped()
            self._queues.pop(chat_id, None)
            self._tasks.pop(chat_id, None)

    async def close(self, within: float) -> None:
        """Send what waits for up to `within` seconds; drop the rest with a log line."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=within)
        if pending:
            waiting = sum(len(self._queues.get(c, ())) for c in list(self._tasks))
            log.warning("%d replies in %d chats not sent at stop", waiting, len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
