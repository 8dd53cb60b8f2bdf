"""The Bot API's HTTP clients: one for every call but getUpdates, bounded so that its pool stays
small, and the getUpdates client that reports every successful poll (a heartbeat for health
checks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from telegram.request import HTTPXRequest

from bot import net

CONNECTIONS = 16
"""Bot API calls in flight at once, one connection each. Sends are paced at 30 a second and a
call takes a round trip: a few connections carry them. More calls wait their turn here, before
httpx: httpx's pool walks every connection, and every waiting call, each time a call starts or
ends, so a pool grown to a hundred connections by a burst costs a third of each call's CPU."""


class _OnAsyncio(HTTPXRequest):
    """PTB's httpx client, on bot.net's transport."""

    def _build_client(self) -> httpx.AsyncClient:
        limits: httpx.Limits = self._client_kwargs["limits"]
        kwargs = dict(self._client_kwargs)
        if kwargs.get("transport") is None:
            kwargs["transport"] = net.transport(limits)
        return httpx.AsyncClient(**kwargs)


class BotRequest(_OnAsyncio):
    """The HTTP client of every Bot API call but getUpdates: at most CONNECTIONS at once."""

    def __init__(self, timeout: float | None = None) -> None:
        """`timeout`: seconds to connect, write and read (None: PTB's 5 s)."""
        if timeout is None:
            super().__init__(connection_pool_size=CONNECTIONS)
        else:
            super().__init__(
                connection_pool_size=CONNECTIONS,
                connect_timeout=timeout,
                write_timeout=timeout,
                read_timeout=timeout,
            )
        self._turns = asyncio.Semaphore(CONNECTIONS)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        async with self._turns:
            return await super().do_request(*args, **kwargs)


class PollRequest(_OnAsyncio):
    """The HTTP client of getUpdates alone: every successful poll is a heartbeat."""

    def __init__(self, on_success: Callable[[], None]) -> None:
        super().__init__(connection_pool_size=1)  # what PTB gives getUpdates by default
        self._on_success = on_success

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 200:
            self._on_success()
        return code, payload
