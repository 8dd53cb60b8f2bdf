"""The python-telegram-bot Application: built with the bot's pacing, run by polling or webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, Update
from telegram.constants import FloodLimit
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.health import POLL_TIMEOUT
from bot.settings import Settings
from bot.telegram.heartbeat import PollRequest

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]

App = Application[Any, Any, Any, Any, Any, Any]
Hook = Callable[[App], Any]
Answer = bool | dict[str, Any] | list[dict[str, Any]]


class Pacing(AIORateLimiter):
    """PTB's AIORateLimiter for every call but message drafts. A draft is a courtesy that goes
    out at once or not at all: it takes none of the pace the messages need, is not retried
    after a 429, and its 429 does not pause the bot's other calls as the limiter's would."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Answer]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Answer:
        if endpoint == "sendMessageDraft":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def build(
    settings: Settings,
    *,
    on_poll: Callable[[], None],
    overall_rate: float = FloodLimit.MESSAGES_PER_SECOND,
    group_rate: tuple[float, float] = (1, 3.0),
    max_retries: int = 3,
    timeout: float | None = None,
    hooks: tuple[Hook, Hook, Hook],
) -> App:
    """The Application, aimed at TELEGRAM_API_URL, paced by PTB's AIORateLimiter (Pacing);
    `timeout`: seconds to connect, write and read a Bot API call (None: PTB's 5 s; polling
    keeps its own); `hooks` are post_init, post_stop and post_shutdown."""
    post_init, post_stop, post_shutdown = hooks
    builder = ApplicationBuilder()
    if timeout is not None:
        builder = builder.connect_timeout(timeout).write_timeout(timeout).read_timeout(timeout)
    return (
        builder.token(settings.TELEGRAM_BOT_TOKEN.get_secret_value())
        .base_url(f"{settings.TELEGRAM_API_URL}/bot")
        .base_file_url(f"{settings.TELEGRAM_API_URL}/file/bot")
        .local_mode(settings.TELEGRAM_LOCAL_MODE)
        # Its own client for getUpdates, as PTB does by default, which also records every
        # successful poll for `voxgram health`.
        .get_updates_request(PollRequest(on_poll))
        # Handlers only queue jobs, so they may run side by side; workers do the waiting.
        .concurrent_updates(True)
        .rate_limiter(
            Pacing(
                overall_max_rate=overall_rate,
                group_max_rate=group_rate[0],
                group_time_period=group_rate[1],
                max_retries=max_retries,
            )
        )
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )


def serve(application: App, settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: webhooks when WEBHOOK_URL is set, else long polling.
    Pending updates are kept either way: notes sent while down are transcribed."""
    if settings.WEBHOOK_URL:
        # The proxy in front forwards Telegram's POSTs to the same path on this port.
        application.run_webhook(
            listen=settings.WEBHOOK_LISTEN,
            port=settings.WEBHOOK_PORT,
            url_path=urlsplit(settings.WEBHOOK_URL).path,
            webhook_url=settings.WEBHOOK_URL,
            secret_token=settings.WEBHOOK_SECRET.get_secret_value() or None,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            close_loop=False,
        )
        return
    application.run_polling(
        timeout=POLL_TIMEOUT,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
        close_loop=False,
    )


async def start_polling(application: App) -> None:
    """Poll inside `async with application` (tests, the benchmark)."""
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES
    )
    await application.start()


async def stop_polling(application: App) -> None:
    assert application.updater is not None
    await application.updater.stop()
    await application.stop()


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
