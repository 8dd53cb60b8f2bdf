"""Updates from Telegram, confirmed only once their handlers have returned.

PTB's Updater confirms polled updates with the next getUpdates offset whether or not their
handlers have finished, and its webhook server answers 200 before the update is handled: a
crash in between loses a note. Here a batch of polled updates is handled first and confirmed
after; a webhook POST is answered 200 only once its update was handled. Handlers return once
their database work is committed (replies go through the outbox), so a batch takes
milliseconds, not Telegram's pacing.

Telegram unreachable (at start or while polling) is waited out with capped backoff: one line
when it starts, one when it ends, no tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
T = TypeVar("T")

MAX_UPDATE_BYTES = 1 << 20
"""Largest webhook body taken: an update is a few KB (a message of 4096 characters and its
entities); anything near a megabyte is not from Telegram."""
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(frozen=True)
class Backoff:
    """Seconds between attempts while Telegram does not answer: doubling up to a cap."""

    first: float = 1.0
    cap: float = 30.0

    def delays(self) -> Callable[[], float]:
        """A fresh sequence of delays: first, 2×first, … cap, cap, …"""
        delay = self.first / 2

        def following() -> float:
            nonlocal delay
            delay = min(delay * 2, self.cap)
            return delay

        return following


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _unless_stopped(stop: asyncio.Event, call: Awaitable[T]) -> tuple[bool, T | None]:
    """(True, result) when `call` finishes first; (False, None) when `stop` is set first
    (`call` is then cancelled)."""
    task = asyncio.ensure_future(call)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TelegramError):
        await task
    return False, None


class Outage:
    """Telegram not answering, told once when it starts and once when it ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: TelegramError) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: Telegram does not answer (%s); retrying", self.what, exc.message)
        else:
            log.debug("%s failed again: %s", self.what, exc.message)

    def ended(self) -> None:
        if self.since is None:
            return
        log.info(
            "%s: Telegram answers again after %.0f s (%d failed attempts)",
            self.what,
            time.monotonic() - self.since,
            self.failures,
        )
        self.since, self.failures = None, 0


async def retrying(
    what: str, call: Callable[[], Awaitable[T]], stop: asyncio.Event, backoff: Backoff
) -> tuple[bool, T | None]:
    """`call()` until it gets through Telegram's network errors (waiting with backoff, a line
    per attempt); (False, None) when `stop` is set first. Other errors are raised."""
    delays = backoff.delays()
    while not stop.is_set():
        try:
            done, result = await _unless_stopped(stop, call())
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            log.warning("%s: Telegram asks to wait %g s", what, seconds)
        except NetworkError as exc:
            seconds = delays()
            log.warning("%s: Telegram does not answer (%s); next try in %g s", what, exc, seconds)
        else:
            return done, result
        if await _stopped_within(stop, seconds):
            break
    return False, None


async def connect(application: App, stop: asyncio.Event, backoff: Backoff) -> bool:
    """Initialize the Application (getMe), waiting for Telegram as long as it takes; False when
    told to stop first. A token Telegram refuses ends the start with one line."""
    try:
        done, _ = await retrying("start", application.initialize, stop, backoff)
    except InvalidToken:
        raise SystemExit("voxgram: Telegram refuses TELEGRAM_BOT_TOKEN") from None
    return done


async def _handle(application: App, updates: Sequence[object]) -> None:
    """Handle updates side by side and return when every handler has (errors are the
    Application's error handler's; only an update's id reaches this log)."""
    results = await asyncio.gather(
        *(application.process_update(u) for u in updates), return_exceptions=True
    )
    for update, result in zip(updates, results, strict=True):
        if isinstance(result, BaseException):
            update_id = update.update_id if isinstance(update, Update) else None
            log.error("update=%s not handled: %s", update_id, type(result).__name__)


class Poller:
    """Long polling that confirms a batch (the next offset) only after its handlers returned."""

    def __init__(
        self,
        application: App,
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        backoff: Backoff,
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.backoff = backoff
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; the batch in hand is handled and confirmed first."""
        bot = self.application.bot
        # A webhook left set would make every getUpdates fail; pending updates stay.
        done, _ = await retrying(
            "deleteWebhook",
            lambda: bot.delete_webhook(drop_pending_updates=False),
            stop,
            self.backoff,
        )
        if not done:
            return
        outage = Outage("getUpdates")
        delays = self.backoff.delays()
        while not stop.is_set():
            try:
                polled, updates = await _unless_stopped(
                    stop,
                    bot.get_updates(
                        offset=self.offset,
                        timeout=self.timeout,
                        allowed_updates=self.allowed_updates,
                    ),
                )
            except InvalidToken:
                raise
            except TelegramError as exc:
                outage.failed(exc)
                wait = exc.retry_after if isinstance(exc, RetryAfter) else delays()
                seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
                await _stopped_within(stop, seconds)
                continue
            if not polled:
                break
            outage.ended()
            delays = self.backoff.delays()
            if updates:
                await _handle(self.application, updates)
                self.offset = updates[-1].update_id + 1
        await self._confirm()

    async def _confirm(self) -> None:
        """Tell Telegram the last batch was handled, so the next start does not get it again."""
        if self.offset is None:
            return
        try:
            await asyncio.wait_for(
                self.application.bot.get_updates(
                    offset=self.offset, timeout=0, allowed_updates=self.allowed_updates
                ),
                timeout=5,
            )
        except (TelegramError, TimeoutError):
            log.info("last updates not confirmed: Telegram sends them again at the next start")


class WebhookHandler(tornado.web.RequestHandler):
    """Telegram's POST: 200 only once the update was handled; anything else is refused
    before its body is read."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, server: WebhookServer) -> None:
        self.server = server
        self.secret = server.secret
        self.chunks: list[bytes] = []
        self.size = 0

    def prepare(self) -> None:
        """Refuse on the headers alone: a wrong secret or a declared body over the cap."""
        token = self.request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(token, self.secret):
            log.info("webhook: request with a wrong secret refused")
            self._refuse(HTTPStatus.FORBIDDEN)
            return
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_UPDATE_BYTES):
            log.warning("webhook: body of %s bytes refused", declared[:20])
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self.size += len(chunk)
        if self.size > MAX_UPDATE_BYTES:
            log.warning("webhook: body over %d bytes refused", MAX_UPDATE_BYTES)
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        self.chunks.append(chunk)

    async def post(self) -> None:
        try:
            data = json.loads(b"".join(self.chunks))
            update = Update.de_json(data, self.server.application.bot)
            if not isinstance(update, Update):
                raise TypeError("no update")
        except Exception as exc:
            # Never the body: it may hold a message's text.
            log.warning(
                "webhook: body of %d bytes is not an update (%s)", self.size, type(exc).__name__
            )
            self.set_status(HTTPStatus.BAD_REQUEST)
            return
        task = asyncio.current_task()
        assert task is not None
        self.server.handling.add(task)
        try:
            await _handle(self.server.application, [update])
        finally:
            self.server.handling.discard(task)
        self.set_status(HTTPStatus.OK)

    def _refuse(self, status: HTTPStatus) -> None:
        """Answer `status` and close the connection: the rest of the body is never read."""
        self.set_status(status)
        self.set_header("Connection", "close")
        flushed = self.finish()
        stream = self.request.connection.stream  # type: ignore[union-attr]
        flushed.add_done_callback(lambda _: stream.close())

    def log_exception(self, *args: Any) -> None:
        """Errors here are logged above, without request bodies."""


class WebhookServer:
    """A small HTTP server for Telegram's webhook POSTs at one path."""

    def __init__(
        self,
        application: App,
        *,
        listen: str,
        port: int,
        path: str,
        secret: str,
    ) -> None:
        self.application = application
        self.secret = secret.encode()
        self.handling: set[asyncio.Task[Any]] = set()
        """POSTs whose update is being handled: the stop waits for them."""
        routes = [(path or "/", tornado.web.stream_request_body(WebhookHandler), {"server": self})]
        # Bodies over the cap are refused by the handler with 413; the server's own limit,
        # a little higher, only backs it up.
        self.server = tornado.httpserver.HTTPServer(
            tornado.web.Application(routes, log_function=lambda handler: None),
            max_body_size=2 * MAX_UPDATE_BYTES,
            body_timeout=30,
            idle_connection_timeout=120,
        )
        self.listen, self.port = listen, port

    def start(self) -> None:
        self.server.listen(self.port, address=self.listen)

    async def stop(self) -> None:
        """Stop accepting; updates being handled finish first (Telegram sends an update again
        when its POST is not answered 200, so one cut short is not lost)."""
        self.server.stop()
        if self.handling:
            await asyncio.wait(self.handling, timeout=30)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.close_all_connections(), timeout=10)
