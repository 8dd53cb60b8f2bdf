"""The Bot API's HTTP clients, on aiohttp: one for every call but getUpdates, bounded so that
its pool stays small, and the getUpdates client that reports every successful poll (a heartbeat
for health checks).

PTB's own HTTPXRequest goes through httpx; here PTB's request interface is implemented on an
aiohttp session directly, as bot.net does for the other clients: a small Bot API call on loopback
took 0.36 ms from call to answer this way, 0.66 ms through httpx on bot.net's transport. Timeouts
and errors are PTB's: TimedOut, NetworkError (whose message never holds the URL, which holds the
token). With HTTP(S)_PROXY set, aiohttp reads it (trust_env), as httpx would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
import yarl
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot import net

CONNECTIONS = 16
"""Bot API calls in flight at once, one connection each. Sends are paced at 30 a second and a
call takes a round trip: a few connections carry them. More calls wait their turn here, with no
time limit, rather than for a connection, within the pool timeout."""

# PTB's defaults (HTTPXRequest), in seconds; its write timeouts have no counterpart in aiohttp.
READ_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0


class AioRequest(BaseRequest):
    """PTB's requests over one aiohttp session with at most `connections` connections.

    aiohttp has no write timeout: a call whose upload stalls ends by its read timeout, as no
    answer comes either (PTB's `write_timeout` and `media_write_timeout` are not used)."""

    def __init__(
        self,
        connections: int,
        *,
        read_timeout: float | None = READ_TIMEOUT,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
    ) -> None:
        self._connections = connections
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._turns: asyncio.Semaphore | None = None
        """Calls beyond the connections wait here, in order, with no time limit."""
        self._on_success: Callable[[], None] = _nothing
        """Called after each answer with status 200."""

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": self.USER_AGENT},
                # Reading the environment costs each call half a millisecond: only when a
                # proxy is set there.
                trust_env=net.proxy_in_environment(),
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("the Bot API client is not initialized")
        limits = net.timeouts(
            connect=_given(connect_timeout, self._connect),
            pool=_given(pool_timeout, self._pool),
            read=_given(read_timeout, self._read),
        )
        async with self._turns or contextlib.nullcontext():
            code, payload = await self._call(self._session, url, method, request_data, limits)
        if code == 200:
            self._on_success()
        return code, payload

    @staticmethod
    async def _call(
        session: aiohttp.ClientSession,
        url: str,
        method: str,
        request_data: RequestData | None,
        limits: aiohttp.ClientTimeout,
    ) -> tuple[int, bytes]:
        try:
            async with session.request(
                method,
                yarl.URL(url, encoded=True),
                data=_body(request_data),
                timeout=limits,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {net.reason(exc)}") from exc


def _nothing() -> None:
    return None


def _given(value: float | object | None, default: float | None) -> float | None:
    """A timeout passed to a call, or the default when it was left to PTB's DEFAULT_NONE."""
    if isinstance(value, int | float) or value is None:
        return value
    return default


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields (urlencoded), or a multipart form when the call uploads files."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return fields
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


class BotRequest(AioRequest):
    """The HTTP client of every Bot API call but getUpdates: at most CONNECTIONS at once, the
    rest waiting their turn."""

    def __init__(self, timeout: float | None = None) -> None:
        """`timeout`: seconds to connect and to wait for an answer (None: PTB's 5 s)."""
        if timeout is None:
            super().__init__(CONNECTIONS)
        else:
            super().__init__(CONNECTIONS, read_timeout=timeout, connect_timeout=timeout)
        self._turns = asyncio.Semaphore(CONNECTIONS)


class PollRequest(AioRequest):
    """The HTTP client of getUpdates alone: every successful poll is a heartbeat."""

    def __init__(self, on_success: Callable[[], None]) -> None:
        super().__init__(1)  # one connection, as PTB gives getUpdates by default
        self._on_success = on_success
