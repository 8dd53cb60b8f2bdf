"""The python-telegram-bot Application: built with the bot's pacing, run by polling or webhook.

The Application has no Updater: updates come from bot.telegram.updates, which confirms them
to Telegram only once their handlers have returned. Its post_init, post_stop and post_shutdown
hooks run here as `run_polling` would run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, Update
from telegram.constants import FloodLimit
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.health import POLL_TIMEOUT
from bot.settings import Settings
from bot.telegram.heartbeat import BotRequest, PollRequest
from bot.telegram.pacing import COURTESY_WITHIN, Pacing
from bot.telegram.updates import Backoff, Poller, WebhookServer, connect, retrying

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
    Update.GUEST_MESSAGE,
]

App = Application[Any, Any, Any, Any, Any, Any]
Hook = Callable[[App], Any]


async def share_limits(
    pacing: Pacing, alive: Callable[[], Awaitable[int]], *, every: float
) -> None:
    """Every `every` seconds: say this replica is alive, count the replicas that are, and take
    this one's share of the bot's limits."""
    while True:
        try:
            replicas = await alive()
        except Exception:
            log.warning("replicas not counted: database unavailable")
        else:
            if replicas != pacing.share:
                pacing.set_share(replicas)
                log.info(
                    "replicas=%d: this one paces at 1/%d of the bot's limits", replicas, replicas
                )
        await asyncio.sleep(every)


def pacing_of(application: App) -> Pacing:
    """The Application's Pacing (build() gives it one)."""
    limiter = application.bot.rate_limiter
    assert isinstance(limiter, Pacing)
    return limiter


def build(
    settings: Settings,
    *,
    on_poll: Callable[[], None],
    overall_rate: float = FloodLimit.MESSAGES_PER_SECOND,
    group_rate: tuple[float, float] = (1, 3.0),
    max_retries: int = 3,
    courtesy_within: float = COURTESY_WITHIN,
    timeout: float | None = None,
    hooks: tuple[Hook, Hook, Hook],
) -> App:
    """The Application, aimed at TELEGRAM_API_URL, paced by bot.telegram.pacing.Pacing;
    `timeout`: seconds to connect, write and read a Bot API call (None: PTB's 5 s; polling
    keeps its own); `hooks` are post_init, post_stop and post_shutdown."""
    post_init, post_stop, post_shutdown = hooks
    builder = ApplicationBuilder()
    return (
        builder.token(settings.TELEGRAM_BOT_TOKEN.get_secret_value())
        .base_url(f"{settings.TELEGRAM_API_URL}/bot")
        .base_file_url(f"{settings.TELEGRAM_API_URL}/file/bot")
        .local_mode(settings.TELEGRAM_LOCAL_MODE)
        # Updates come from bot.telegram.updates, confirmed only once handled.
        .updater(None)
        # Its own client for getUpdates, as PTB does by default, which also records every
        # successful poll for `voxgram health`.
        .get_updates_request(PollRequest(on_poll))
        .request(BotRequest(timeout))
        # Handlers only queue jobs, so they may run side by side; workers do the waiting.
        .concurrent_updates(True)
        .rate_limiter(
            Pacing(
                overall_max_rate=overall_rate,
                group_max_rate=group_rate[0],
                group_time_period=group_rate[1],
                max_retries=max_retries,
                courtesy_within=courtesy_within,
            )
        )
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )


def serve(application: App, settings: Settings, backoff: Backoff, *, worker: bool = False) -> None:
    """Run until SIGINT/SIGTERM: webhooks when WEBHOOK_URL is set, else long polling; a
    `worker` takes no updates and only runs jobs. Pending updates are kept either way: notes
    sent while down are transcribed."""
    asyncio.run(_serve(application, settings, backoff, worker))


async def _serve(application: App, settings: Settings, backoff: Backoff, worker: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not await connect(application, stop, backoff):
        return
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            if worker:
                await stop.wait()
            elif settings.WEBHOOK_URL:
                await _webhook(application, settings, stop, backoff)
            else:
                poller = Poller(
                    application,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=ALLOWED_UPDATES,
                    backoff=backoff,
                )
                await poller.run(stop)
        finally:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


async def _webhook(
    application: App, settings: Settings, stop: asyncio.Event, backoff: Backoff
) -> None:
    """Serve Telegram's POSTs until `stop`; the webhook is set once the server listens."""
    # The proxy in front forwards Telegram's POSTs to the same path on this port.
    server = WebhookServer(
        application,
        listen=settings.WEBHOOK_LISTEN,
        port=settings.WEBHOOK_PORT,
        path=urlsplit(settings.WEBHOOK_URL).path,
        secret=settings.WEBHOOK_SECRET.get_secret_value(),
    )
    server.start()
    try:
        await retrying(
            "setWebhook",
            lambda: application.bot.set_webhook(
                settings.WEBHOOK_URL,
                secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            ),
            stop,
            backoff,
        )
        await stop.wait()
    finally:
        await server.stop()


class Polling:
    """The poller in the background inside `async with application` (tests, the benchmark)."""

    def __init__(self, application: App, backoff: Backoff) -> None:
        self.application = application
        self.poller = Poller(
            application, timeout=1, allowed_updates=ALLOWED_UPDATES, backoff=backoff
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.poller.run(self._stop))
        await self.application.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.application.stop()


async def watch_bot(bot: Bot, beat: Callable[[], None]) -> None:
    """A worker polls nothing: ask Telegram getMe every POLL_TIMEOUT seconds, and count its
    answer as a heartbeat."""
    while True:
        await asyncio.sleep(POLL_TIMEOUT)
        try:
            await bot.get_me()
        except TelegramError as exc:
            log.warning("getMe failed: %s", exc.message)
            continue
        beat()


async def watch_webhook(bot: Bot, url: str, beat: Callable[[], None]) -> None:
    """In webhook mode a quiet bot gets no requests: ask Telegram every POLL_TIMEOUT seconds
    whether our webhook is still set, and count its answer as a heartbeat."""
    while True:
        await asyncio.sleep(POLL_TIMEOUT)
        try:
            info = await bot.get_webhook_info()
        except TelegramError as exc:
            log.warning("webhook check failed: %s", exc.message)
            continue
        if info.url == url:
            beat()
        else:
            log.warning("webhook is not set at Telegram (url=%r)", info.url)
