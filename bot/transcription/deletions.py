"""Deleting what was uploaded to Mistral, in the background once a transcription is over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine

from bot.transcription.mistral import MistralClient

log = logging.getLogger(__name__)

FileHook = Callable[[str], Awaitable[None]]


async def no_hook(file_id: str) -> None:
    """A FileHook that does nothing."""


HOLD_SECONDS = 5.0
"""How long a delete waits for its note's transcript to be out (see Deletions.later), at most."""
CANCELLED_DELETE_SECONDS = 2.0
"""How long a cancelled transcription tries to delete its upload before leaving it for later."""


class Deletions:
    """Deletes uploaded files; a failed delete leaves its recorded id for the next start."""

    def __init__(self, mistral: MistralClient) -> None:
        self._mistral = mistral
        self._tasks: set[asyncio.Task[None]] = set()

    def later(self, file_id: str, on_delete: FileHook, hold: asyncio.Event | None) -> None:
        """Delete in the background: the transcript need not wait for Mistral to delete its copy
        (nor hang with a DELETE that hangs). With `hold`, the delete first waits until it is set
        (the note's transcript is out), at most HOLD_SECONDS, so that its request does not take
        the CPU and connections the transcript's delivery needs."""
        self._track(self._held(file_id, on_delete, hold))

    def after(
        self, upload: Awaitable[str | None], on_delete: FileHook, hold: asyncio.Event | None
    ) -> None:
        """Delete what `upload` uploads (nothing if it fails) once it is done, as later() does;
        a delete cut short by drain() cancels the upload too."""
        self._track(self._after(upload, on_delete, hold))

    async def now(self, file_id: str, on_delete: FileHook, *, within: float | None = None) -> None:
        """Delete the uploaded copy, giving up after `within` seconds if given."""
        try:
            async with asyncio.timeout(within):
                await self._mistral.delete(file_id)
        except Exception:
            log.warning("mistral file=%s could not be deleted; kept for cleanup", file_id)
            return
        await on_delete(file_id)

    async def drain(self, within: float) -> None:
        """Let the deletes under way finish (held ones go at once), for at most `within`
        seconds; the ids of those that do not are recorded and deleted at the next start."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
        late = list(self._tasks)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _track(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after(
        self, upload: Awaitable[str | None], on_delete: FileHook, hold: asyncio.Event | None
    ) -> None:
        file_id = await upload
        if file_id is not None:
            await self._held(file_id, on_delete, hold)

    async def _held(self, file_id: str, on_delete: FileHook, hold: asyncio.Event | None) -> None:
        if hold is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOLD_SECONDS):
                    await hold.wait()
        await self.now(file_id, on_delete)
