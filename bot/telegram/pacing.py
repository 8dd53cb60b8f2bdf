"""Telegram's limits, spent first on what the user waits for.

Telegram takes about 30 messages a second from a bot and about 20 a minute in one group
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). Every call
that names a chat spends from those budgets; the calls waiting for them are served by
Priority (a transcript, then an answer, then courtesy), in arrival order within one. Courtesy
(status messages, progress edits, notices) that would arrive late is skipped instead: past its
bound since it was made, withdrawn by whoever it announced (the transcript is ready), or when
Telegram's flood control would hold it past its bound. A 429 pauses every paced call for the
time Telegram asked; the call is tried again up to `max_retries` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from enum import IntEnum
from typing import Any, cast

from telegram import Bot
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, ExtBot

from bot.telegram.schedule import Schedule, Ticket

log = logging.getLogger(__name__)

Answer = bool | dict[str, Any] | list[dict[str, Any]]

UNPACED = frozenset({"getChat", "getChatMember", "getChatAdministrators", "sendMessageDraft"})
"""Calls that go straight through. Reads about a chat: Telegram's per-chat limits are on
messages sent, and a handler asking whether someone is a group admin must not wait behind that
group's replies. Message drafts: a courtesy that goes out at once or not at all; it takes none
of the pace the messages need, is not retried after a 429, and its 429 does not pause the
bot's other calls as the limiter's would."""

COURTESY_WITHIN = 2.0
"""Seconds a courtesy call may take from being made to going out; later, it is skipped."""


class Priority(IntEnum):
    """Which waiting call goes first: the lowest. None is 0: PTB drops a falsy rate_limit_args."""

    TRANSCRIPT = 1
    """A note's transcript, any part of it, its file; a transcript sent again on request."""
    ANSWER = 2
    """What a user asked for otherwise: command answers, refusals (calls left unmarked)."""
    COURTESY = 3
    """What only tells the user how things stand: status messages, progress, notices."""


class Skipped(TelegramError):
    """A courtesy call was not sent: it would have come late, or what it announced came first."""


class Courtesy:
    """The rate_limit_args of one courtesy call: served last, skipped when it would come late.
    Whoever it announces may withdraw it for as long as it has not gone out."""

    priority = Priority.COURTESY

    def __init__(self, what: str, *, since: float | None = None) -> None:
        self.what = what
        """What it is, for the log line of a skip (ids only)."""
        self.since = time.monotonic() if since is None else since
        """When it was made (time.monotonic()): its bound counts from here."""
        self.going = False
        """Handed to Telegram (it may still fail)."""
        self.skipped: str | None = None
        """Why it will not be sent, once it will not."""
        self._ticket: Ticket | None = None

    def withdraw(self) -> bool:
        """Do not send it unless it is on its way: True when it will not be sent."""
        if self.going:
            return False
        if self.skipped is None:
            self.skipped = "withdrawn"
            if self._ticket is not None:
                self._ticket.end(self.skipped)
        return True


Paced = Priority | Courtesy
"""What a Bot call's `rate_limit_args` holds."""

PacedBot = ExtBot[Paced]
"""The Application's bot: its calls take `rate_limit_args=`."""


def paced(bot: Bot) -> PacedBot:
    """`bot` as the Application's ExtBot (the one a Message or a CallbackContext carries)."""
    if not isinstance(bot, ExtBot):
        raise TypeError(f"not the Application's bot: {type(bot).__name__}")
    return cast(PacedBot, bot)


class Pacing(BaseRateLimiter[Paced]):
    """The bot's rate limiter: Telegram's limits per bot, served by priority (module docstring);
    the calls in UNPACED go straight through, calls that name no chat only wait out a 429. With
    several replicas each paces itself at its share of the bot's limits (set_share): Telegram
    counts them for the bot, not per process."""

    def __init__(
        self,
        *,
        overall_max_rate: float,
        group_max_rate: float,
        group_time_period: float,
        max_retries: int,
        courtesy_within: float = COURTESY_WITHIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schedule = Schedule(overall_max_rate, group_max_rate, group_time_period)
        self.max_retries = max_retries
        self.courtesy_within = courtesy_within
        self.clock = clock
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def share(self) -> int:
        """Replicas alive, this one included: it sends at 1/share of each limit."""
        return self.schedule.share

    def set_share(self, replicas: int) -> None:
        """`replicas` are alive: from now on this one takes that share of each limit."""
        self.schedule.set_share(max(1, replicas))

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Answer]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Paced | None,
    ) -> Answer:
        if endpoint in UNPACED:
            return await callback(*args, **kwargs)
        priority, courtesy = _priority(rate_limit_args, endpoint)
        chat_id = data.get("chat_id")
        arrival = next(self._arrivals)
        for attempt in itertools.count():
            await self._turn(Ticket(priority, arrival, _lane(chat_id)), chat_id, courtesy)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                self._pause(wait)
                if courtesy is not None:
                    courtesy.going = False
                if attempt >= self.max_retries:
                    log.warning(
                        "%s chat=%s: flood control, given up after %d tries (retry_after=%gs)",
                        endpoint,
                        chat_id,
                        attempt + 1,
                        wait,
                    )
                    raise
                if courtesy is not None and self._late(courtesy, self.clock() + wait):
                    self._skip(courtesy, "flood control", chat_id)
                log.info("%s chat=%s: flood control, paced calls wait %gs", endpoint, chat_id, wait)
        raise AssertionError("unreachable")

    async def _turn(self, ticket: Ticket, chat_id: object, courtesy: Courtesy | None) -> None:
        """Wait until the call may go; raises Skipped when a courtesy call never will."""
        if courtesy is not None:
            if courtesy.skipped is None and self._late(courtesy, self.clock()):
                courtesy.skipped = "late"
            if courtesy.skipped is not None:
                self._skip(courtesy, courtesy.skipped, chat_id)
            ticket.deadline = courtesy.since + self.courtesy_within
        skipped = None
        if chat_id is None:
            # Counted against no limit, as in PTB's AIORateLimiter: only a pause holds it.
            left = self.schedule.paused_until - self.clock()
            if left > 0:
                await asyncio.sleep(left)
        else:
            skipped = await self._queue(ticket, courtesy)
        if courtesy is None:
            return
        # Withdrawn meanwhile, it stays unsent even if its turn had come.
        reason = courtesy.skipped or skipped
        if reason is not None:
            self._skip(courtesy, reason, chat_id)
        courtesy.going = True

    async def _queue(self, ticket: Ticket, courtesy: Courtesy | None) -> str | None:
        """Wait for the ticket's turn: None when it came, else why it will not."""
        ticket.waiter = asyncio.get_running_loop().create_future()
        if courtesy is not None:
            courtesy._ticket = ticket
        self.schedule.add(ticket, self.clock())
        self._pump()
        try:
            return await ticket.waiter
        except asyncio.CancelledError:
            ticket.end("cancelled")
            raise
        finally:
            if courtesy is not None:
                courtesy._ticket = None

    def _late(self, courtesy: Courtesy, at: float) -> bool:
        return at >= courtesy.since + self.courtesy_within

    def _skip(self, courtesy: Courtesy, reason: str, chat_id: object) -> None:
        courtesy.skipped = reason
        waited_ms = int((self.clock() - courtesy.since) * 1000)
        log.info("%s chat=%s skipped (%s) after %d ms", courtesy.what, chat_id, reason, waited_ms)
        raise Skipped(f"{courtesy.what} skipped: {reason}")

    def _pause(self, seconds: float) -> None:
        """Telegram asked for `seconds` of quiet: no paced call goes before they are over."""
        self.schedule.pause(self.clock() + seconds)
        self._pump()

    def _pump(self) -> None:
        """Let go the calls that may go now, skip the late ones, and look again when next due."""
        now = self.clock()
        _, _, wake = self.schedule.due(now)
        if wake is None:
            return
        if self._timer is not None:
            if self._timer_at <= wake:
                return
            self._timer.cancel()
        self._timer_at = wake
        self._timer = asyncio.get_running_loop().call_later(max(0.0, wake - now), self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._pump()


def _priority(args: Paced | None, endpoint: str) -> tuple[Priority, Courtesy | None]:
    """A call's priority, and its Courtesy if it is one (unmarked calls are answers)."""
    if isinstance(args, Courtesy):
        return args.priority, args
    if args is Priority.COURTESY:
        return args, Courtesy(endpoint)
    return args or Priority.ANSWER, None


def _lane(chat_id: object) -> int | str | None:
    """The group a call goes to, limited per chat (a negative id or an @username); None for
    any other chat, which only the overall limit holds."""
    with contextlib.suppress(ValueError, TypeError):
        chat_id = int(chat_id)  # type: ignore[call-overload]
    if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str):
        return chat_id
    return None


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
