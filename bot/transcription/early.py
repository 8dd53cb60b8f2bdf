"""A note's upload to Mistral, started beside its probe: used for its one request, or deleted."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.transcription.deletions import CANCELLED_DELETE_SECONDS, Deletions, FileHook, no_hook
from bot.transcription.mistral import MistralClient

log = logging.getLogger(__name__)


class EarlyUpload:
    """The upload of a downloaded note, started at once so that it runs while the note is
    probed and its quota re-checked (an upload is not billed: only a transcription is).

    It only uploads. Transcriber.transcribe sends the request that reads it, and only once the
    caller has done those checks; close() deletes the file, used or not. Its id is recorded
    (`on_upload`) as soon as it is known, like any upload's, so a crash leaves nothing that the
    next start does not delete. An upload that fails is None to file_id(): the note is then
    uploaded again the usual way, which reports errors as it always did.
    """

    def __init__(
        self,
        mistral: MistralClient,
        deletions: Deletions,
        path: Path,
        *,
        on_upload: FileHook,
        on_delete: FileHook,
    ) -> None:
        self._mistral = mistral
        self._deletions = deletions
        self._on_delete = on_delete
        self._upload = asyncio.create_task(self._uploaded(path, on_upload))

    async def file_id(self) -> str | None:
        """The uploaded and recorded file's id, once the upload is done; None if it failed."""
        # Shielded: a caller cancelled meanwhile leaves the upload to close(), which deletes it.
        return await asyncio.shield(self._upload)

    async def close(self, hold: asyncio.Event | None, *, cancelled: bool = False) -> None:
        """Delete the file in the background once the upload is done and `hold` is set
        (Deletions.after). `cancelled` (a stop past its grace): one short try now, for the
        upload and its delete together, so that a Mistral that does not answer cannot hold the
        stop up; an upload not done by then is cancelled, and an id recorded but not deleted is
        deleted at the next start."""
        if not cancelled:
            self._deletions.after(self._upload, self._on_delete, hold)
            return
        try:
            async with asyncio.timeout(CANCELLED_DELETE_SECONDS):
                file_id = await self._upload  # cancelled with this wait when it times out
                if file_id is not None:
                    await self._deletions.now(file_id, self._on_delete)
        except TimeoutError:
            log.warning("early upload not deleted in time; its recorded id is kept for cleanup")

    async def _uploaded(self, path: Path, on_upload: FileHook) -> str | None:
        try:
            file_id = await self._mistral.upload(path)
        except Exception as exc:
            log.info("early upload failed (%s): uploaded again in turn", type(exc).__name__)
            return None
        try:
            await on_upload(file_id)
        except asyncio.CancelledError:
            await self._deletions.now(file_id, self._on_delete, within=CANCELLED_DELETE_SECONDS)
            raise
        except Exception:
            # Not recorded (so nothing to forget): deleted now; the usual upload that follows
            # records its own, or fails as it would have.
            log.warning("mistral file=%s early upload not recorded: deleting it", file_id)
            await self._deletions.now(file_id, no_hook)
            return None
        return file_id
