"""Files from the Bot API to local disk, streamed, never held whole in memory."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from telegram import Bot
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest, NetworkError, TelegramError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot import net
from bot.jobs.ports import DownloadFailed, DownloadTooBig

log = logging.getLogger(__name__)


LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32)
"""Downloads run side by side, one per worker: up to 32 connections are kept for the next."""


class _Retryable(Exception):
    pass


def _transient(exc: BaseException) -> bool:
    """Worth another try: a failed download, or getFile hitting network trouble or a 5xx
    (PTB raises those as NetworkError; its BadRequest subclass is a final answer)."""
    if isinstance(exc, BadRequest):
        return False
    return isinstance(exc, _Retryable | NetworkError)


class TelegramFiles:
    """`getFile`, then stream `{api}/file/bot<token>/<path>` to disk (or read it in place when a
    local Bot API server runs with `--local` and hands out paths on its own disk)."""

    def __init__(
        self,
        bot: Bot,
        *,
        api_url: str,
        token: str,
        local_mode: bool,
        attempts: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self._bot = bot
        self._file_root = f"{api_url}/file/bot{token}/"
        self._local = local_mode
        self._attempts = attempts
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, read=120.0), transport=net.transport(LIMITS)
        )

    @property
    def max_file_size(self) -> int:
        """The largest file getFile hands out: 20 MB on the cloud Bot API, 2 GB in local mode."""
        if self._local:
            return int(FileSizeLimit.FILESIZE_DOWNLOAD_LOCAL_MODE)
        return int(FileSizeLimit.FILESIZE_DOWNLOAD)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def download(self, file_id: str, dest: Path) -> Path:
        """Fetch the file to `dest` (or return its local path); raise DownloadTooBig or
        DownloadFailed (implements bot.jobs.ports.Downloader)."""
        try:
            return await self._download(file_id, dest)
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise DownloadTooBig from exc
            log.warning("getFile refused: %s", exc.message)
            raise DownloadFailed from exc
        except TelegramError as exc:
            log.warning("download failed: %s", type(exc).__name__)
            raise DownloadFailed from exc

    def discard(self, path: Path) -> None:
        """Delete the local Bot API server's copy of a file read in place (local mode only):
        the server fetches it again from Telegram if it is asked for it later."""
        if not self._local:
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("local copy of a file not deleted: %s", exc.strerror)

    async def _download(self, file_id: str, dest: Path) -> Path:
        """Fetch with retries of what is transient.

        getFile and the download are retried together on network trouble and 5xx: a fresh
        getFile also renews a file path that expired. A 400 from getFile (file too big, bad
        id) is final and raised as BadRequest.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=10),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._fetch(file_id, dest)
        except _Retryable as exc:
            log.warning("download failed: %s", exc)
            raise DownloadFailed from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(self, file_id: str, dest: Path) -> Path:
        telegram_file = await self._bot.get_file(file_id)
        file_path = telegram_file.file_path
        if not file_path:
            raise DownloadFailed("getFile gave no file_path")
        if self._local and Path(file_path).is_absolute():
            return Path(file_path)
        await self._stream(file_path, dest)
        return dest

    async def _stream(self, file_path: str, dest: Path) -> None:
        try:
            # PTB already turns the relative path into the full URL (token included).
            url = file_path if file_path.startswith("http") else self._file_root + file_path
            async with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    log.warning("telegram download status=%d", response.status_code)
                    raise _Retryable(f"download answered {response.status_code}")
                with dest.open("wb") as out:
                    async for block in response.aiter_bytes(1 << 16):
                        out.write(block)
        except httpx.TransportError as exc:
            log.warning("telegram download failed: %s", type(exc).__name__)
            raise _Retryable("download connection failed") from None
