"""Audio file → Mistral → one Transcript, with Mistral's slots bounded for the whole bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot import audio
from bot.mistral import MistralClient
from bot.settings import UploadMode
from bot.transcript import Transcript

log = logging.getLogger(__name__)

FileHook = Callable[[str], Awaitable[None]]


async def _noop(_: str) -> None:
    return None


class Transcriber:
    """Sends audio to Mistral the way the settings say, never more than `limit` at once.

    The semaphore is shared by every job, so `MAX_CONCURRENT_TRANSCRIPTIONS` bounds the
    requests in flight for all users together. Uploaded files are deleted whatever happens;
    `on_upload`/`on_delete` let the caller record ids so a crash can be cleaned up later.
    """

    def __init__(self, mistral: MistralClient, *, mode: UploadMode, limit: int) -> None:
        self.mistral = mistral
        self.mode = mode
        self.slots = asyncio.Semaphore(limit)

    async def transcribe(
        self,
        path: Path,
        workdir: Path,
        *,
        language: str | None = None,
        on_upload: FileHook = _noop,
        on_delete: FileHook = _noop,
    ) -> Transcript:
        """Transcribe one local file (its audio track only)."""
        track = await asyncio.to_thread(audio.extract_audio, path, workdir)
        async with self.slots:
            if self.mode is UploadMode.DIRECT:
                return await self.mistral.transcribe(path=track, language=language)
            file_id = await self.mistral.upload(track)
            try:
                await on_upload(file_id)
                url = await self.mistral.signed_url(file_id)
                return await self.mistral.transcribe(file_url=url, language=language)
            finally:
                await self._delete(file_id, on_delete)

    async def _delete(self, file_id: str, on_delete: FileHook) -> None:
        """Delete the uploaded copy; if that fails the recorded id is retried at next start."""
        try:
            await self.mistral.delete(file_id)
        except Exception:
            log.warning("mistral file=%s could not be deleted; kept for cleanup", file_id)
            return
        await on_delete(file_id)
