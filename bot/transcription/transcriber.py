"""Audio file → Mistral → one Transcript, with Mistral's slots bounded for the whole bot.

Audio longer than the chunk limit is cut at silences (chunking.split_at_silences) in a worker
thread; each chunk is sent as soon as it is cut, all of them in parallel under the same global
bound, and their segments are shifted by the chunk's start and merged in order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path

from bot.domain.options import TranscriptionOptions
from bot.domain.transcript import Notice, Segment, Transcript, with_notice
from bot.settings import UploadMode
from bot.transcription import audio, chunking
from bot.transcription.asking import Asking
from bot.transcription.chunking import merge
from bot.transcription.deletions import CANCELLED_DELETE_SECONDS, Deletions, FileHook, no_hook
from bot.transcription.early import EarlyUpload
from bot.transcription.mistral import MistralClient, MistralUnavailable
from bot.transcription.mistral_wire import Deadline
from bot.transcription.slots import FairSlots, Owner, ReadyTurns

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (chunks done, chunks in all) each time a chunk's transcript comes back."""
SegmentHook = Callable[[int, float, Segment], None]
"""Called with (chunk number from 0, the chunk's start in seconds, a segment on the chunk's own
times) as Mistral streams each segment."""
ChunkHook = Callable[[int, Transcript], None]
"""Called with (chunk number from 0, its transcript on the whole audio's times) as each chunk's
transcription ends."""
Send = Callable[[Path, float, Callable[[Segment], None] | None], Awaitable[Transcript]]
"""Transcribes one track of the given seconds, streaming segments to the callback if any."""
Hooks = tuple[Progress, SegmentHook | None, ChunkHook]


def _no_progress(done: int, total: int) -> None:
    return None


def _no_chunk(chunk: int, part: Transcript) -> None:
    return None


EARLY_BYTES_BASE = 1_000_000
EARLY_BYTES_PER_SECOND = 200_000
"""A file is uploaded before its probe only if it holds at most EARLY_BYTES_BASE plus this
many bytes per declared second: 16-bit stereo WAV at 48 kHz takes 192 000, a voice note's Opus
2 000 to 8 000."""

MIN_CHUNK_SECONDS = 300.0
PLAIN = TranscriptionOptions()
"""No pinned language, no speakers, no vocabulary."""


class Transcriber:
    """Sends audio to Mistral the way the settings say, never more than `limit` at once.

    The semaphore is shared by every job, so `MAX_CONCURRENT_TRANSCRIPTIONS` bounds the
    requests in flight for all users together. Uploaded files are deleted whatever happens;
    `on_upload`/`on_delete` let the caller record ids so a crash can be cleaned up later.
    """

    def __init__(
        self,
        mistral: MistralClient,
        *,
        mode: UploadMode,
        limit: int,
        chunk_seconds: float = 600,
        deadline: Deadline | None = None,
    ) -> None:
        self.mistral = mistral
        self.mode = mode
        self.slots = FairSlots(limit)
        self.chunk_seconds = chunk_seconds
        self.deadline = deadline or Deadline()
        self.deletions = Deletions(mistral)
        self.readying = ReadyTurns(limit)

    def close(self) -> None:
        """Stopping: a note waiting for a slot or for its turn to get ready gets Stopping (and
        goes back to the queue); requests in flight go on."""
        self.slots.close()
        self.readying.close()

    def upload_early(
        self, path: Path, declared: float, *, on_upload: FileHook, on_delete: FileHook
    ) -> EarlyUpload | None:
        """Start uploading `path` now, before it is probed, if a note of `declared` seconds is
        sent in one request from an upload (UPLOAD_MODE=files, not longer than CHUNK_SECONDS);
        None otherwise. Pass it to transcribe() as `early`, and close it in any case."""
        if self.mode is not UploadMode.FILES or declared > self.chunk_seconds:
            return None
        if path.stat().st_size > EARLY_BYTES_BASE + EARLY_BYTES_PER_SECOND * declared:
            # More bytes than its declared length could hold: likely a lie about its length,
            # and not worth sending to Mistral before the probe has had its say.
            return None
        return EarlyUpload(
            self.mistral, self.deletions, path, on_upload=on_upload, on_delete=on_delete
        )

    async def transcribe(
        self,
        path: Path,
        workdir: Path,
        *,
        duration: float,
        options: TranscriptionOptions = PLAIN,
        on_upload: FileHook = no_hook,
        on_delete: FileHook = no_hook,
        on_progress: Progress = _no_progress,
        on_segment: SegmentHook | None = None,
        on_chunk: ChunkHook = _no_chunk,
        chat: Hashable = None,
        sendable: bool = False,
        hold_deletes: asyncio.Event | None = None,
        early: EarlyUpload | None = None,
    ) -> Transcript:
        """Transcribe one local file (its audio track only) whose probed length is `duration`.
        Mistral's slots are shared fairly between chats, then between notes of a chat; past
        the note's Deadline it is given up with MistralUnavailable.

        With `on_segment` Mistral streams each request and every segment is passed on as it
        comes; `on_chunk` is told as each chunk is complete (a short file is chunk 0). The
        transcript's notices say what of `options` could not be applied. Uploads are deleted once
        `hold_deletes` is set (Deletions.later).

        `early` (upload_early of `path`) is what the request reads, rather than a new upload, when
        the file goes as it is in one request; the caller closes it, used or not."""
        limit = self.deadline.for_audio(duration)
        bound = asyncio.timeout(limit)
        try:
            async with bound:
                return await self._transcribe(
                    path,
                    workdir,
                    duration=duration,
                    options=options,
                    on_upload=on_upload,
                    on_delete=on_delete,
                    hold_deletes=hold_deletes,
                    hooks=(on_progress, on_segment, on_chunk),
                    chat=chat,
                    sendable=sendable,
                    early=early,
                )
        except TimeoutError as exc:
            if not bound.expired():
                raise
            log.warning(
                "chat=%s transcription past its deadline secs=%.1f deadline_s=%.0f",
                chat,
                duration,
                limit,
            )
            raise MistralUnavailable("transcription: past its deadline") from exc

    async def _transcribe(
        self,
        path: Path,
        workdir: Path,
        *,
        duration: float,
        options: TranscriptionOptions,
        on_upload: FileHook,
        on_delete: FileHook,
        hold_deletes: asyncio.Event | None,
        hooks: Hooks,
        chat: Hashable,
        sendable: bool,
        early: EarlyUpload | None,
    ) -> Transcript:
        _, on_segment, on_chunk = hooks
        asking = Asking(options)
        send = functools.partial(
            self._send,
            owner=(chat, object()),
            asking=asking,
            on_upload=on_upload,
            on_delete=on_delete,
            hold_deletes=hold_deletes,
            # Signed URLs are taken before the wait for a slot: valid past the note's deadline.
            expiry_hours=math.ceil(self.deadline.for_audio(duration) / 3600) + 1,
        )
        if duration <= self.chunk_seconds:
            # `sendable` (probe's finding) spares opening the file again to see it is.
            track = (
                path if sendable else await asyncio.to_thread(audio.extract_audio, path, workdir)
            )
            uploaded = await early.file_id() if early is not None and sendable else None
            streamed = _streamed(on_segment, 0, 0.0)
            transcript = await send(track, duration, streamed, uploaded=uploaded)
            on_chunk(0, transcript)
        else:
            transcript = await self._chunked(path, workdir, duration, send, hooks)
            if options.diarize:
                transcript = with_notice(transcript, Notice.SPEAKERS_PER_PART)
        if options.speakers and not options.diarize:
            transcript = with_notice(transcript, Notice.SPEAKERS_NEED_AUTO_LANGUAGE)
        if asking.bias_refused:
            transcript = with_notice(transcript, Notice.VOCABULARY_NOT_APPLIED)
        return transcript

    async def cut(
        self, path: Path, workdir: Path, duration: float, *, sendable: bool
    ) -> list[chunking.Chunk]:
        """The audio track in chunks of at most CHUNK_SECONDS (one when it is no longer), for
        requests that are all sent at once (a batch)."""
        if duration <= self.chunk_seconds:
            track = (
                path if sendable else await asyncio.to_thread(audio.extract_audio, path, workdir)
            )
            return [chunking.Chunk(0, track, 0.0, duration)]
        return await asyncio.to_thread(
            chunking.split_at_silences, path, workdir / "chunks", float(self.chunk_seconds)
        )

    async def transcribe_uploaded(
        self, file_id: str, seconds: float, *, language: str | None, chat: Hashable
    ) -> Transcript:
        """Transcribe an uploaded file (a batch line that did not come back) in a slot."""
        async with self.slots.hold((chat, object())):
            url = await self.mistral.signed_url(file_id)
            return await self.mistral.transcribe(
                file_url=url, language=language, audio_seconds=seconds
            )

    def chunk_length(self, duration: float) -> float:
        """How long the chunks of a recording longer than CHUNK_SECONDS are cut.

        Mistral's answer time grows with the audio's length, so the recording is spread over
        the slots: about one chunk per slot, each at most CHUNK_SECONDS (the API's bound) and
        at least MIN_CHUNK_SECONDS (shorter pieces would lose context at every cut for little
        gain). The cut may fall up to a search window early, hence the margin.
        """
        spread = duration / self.slots.limit + chunking.LONGEST_SEARCH_SECONDS
        return min(self.chunk_seconds, max(MIN_CHUNK_SECONDS, spread))

    async def _chunked(
        self,
        path: Path,
        workdir: Path,
        duration: float,
        send: Send,
        hooks: Hooks,
    ) -> Transcript:
        on_progress, on_segment, on_chunk = hooks
        loop = asyncio.get_running_loop()
        found: asyncio.Queue[chunking.Chunk | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()
        length = self.chunk_length(duration)

        def cut() -> None:
            try:
                chunking.split_at_silences(
                    path,
                    workdir / "chunks",
                    length,
                    cancelled=cancelled,
                    on_chunk=lambda c: loop.call_soon_threadsafe(found.put_nowait, c),
                )
            except BaseException as exc:  # handed to the event loop, raised there
                loop.call_soon_threadsafe(found.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(found.put_nowait, None)

        # A cut falls at most one search window before each limit: the count is known early.
        expected = math.ceil(duration / (length - chunking.search_window(length)))
        tasks: list[asyncio.Task[tuple[chunking.Chunk, Transcript]]] = []
        complete = False  # every chunk is cut: len(tasks) is the total
        done = 0

        async def one(index: int, chunk: chunking.Chunk) -> tuple[chunking.Chunk, Transcript]:
            nonlocal done
            result = await send(
                chunk.path, chunk.duration, _streamed(on_segment, index, chunk.start)
            )
            on_chunk(index, merge([(chunk, result)]))
            done += 1
            on_progress(done, len(tasks) if complete else max(expected, len(tasks)))
            return chunk, result

        splitter = asyncio.ensure_future(asyncio.to_thread(cut))
        try:
            async with asyncio.TaskGroup() as group:
                while (item := await found.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    tasks.append(group.create_task(one(len(tasks), item)))
                complete = True
        except BaseExceptionGroup as failures:
            raise _first(failures) from None
        finally:
            # Never leave the thread writing into a folder the caller is about to remove.
            cancelled.set()
            await asyncio.wait({splitter})
        return merge([task.result() for task in tasks])

    async def _send(
        self,
        track: Path,
        seconds: float,
        on_segment: Callable[[Segment], None] | None,
        *,
        owner: Owner,
        asking: Asking,
        on_upload: FileHook,
        on_delete: FileHook,
        hold_deletes: asyncio.Event | None = None,
        uploaded: str | None = None,
        expiry_hours: int,
    ) -> Transcript:
        """One request for `track`. `uploaded`: its id at Mistral already (an EarlyUpload's,
        deleted by it); else it is uploaded here, and deleted once answered. Its signed URL is
        valid for `expiry_hours`."""
        if self.mode is UploadMode.DIRECT:
            async with self.slots.hold(owner):
                return await asking.ask(self.mistral, seconds, on_segment, path=track)
        if uploaded is not None:
            return await self._ask_uploaded(
                owner, asking, uploaded, seconds, on_segment, expiry_hours
            )
        # The upload goes before taking a slot: the slots bound transcription requests, and a
        # slot held while a file uploads is a transcription not made.
        file_id = await self.mistral.upload(track)
        cancelled = False
        try:
            await on_upload(file_id)
            return await self._ask_uploaded(
                owner, asking, file_id, seconds, on_segment, expiry_hours
            )
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if cancelled:
                # A stop past its grace, or a sibling chunk that failed: a short try, so a
                # Mistral that does not answer cannot hold the stop up (the recorded id is
                # deleted at the next start).
                await self.deletions.now(file_id, on_delete, within=CANCELLED_DELETE_SECONDS)
            else:
                self.deletions.later(file_id, on_delete, hold_deletes)  # drain() waits at stop

    async def _ask_uploaded(
        self,
        owner: Owner,
        asking: Asking,
        file_id: str,
        seconds: float,
        on_segment: Callable[[Segment], None] | None,
        expiry_hours: int,
    ) -> Transcript:
        """Ask for an uploaded file in a slot. Its signed URL, valid for `expiry_hours` (past
        the note's deadline), is taken before the wait: a granted slot goes straight to the
        request."""
        url = await self.mistral.signed_url(file_id, expiry_hours)
        async with self.slots.hold(owner):
            return await asking.ask(self.mistral, seconds, on_segment, file_url=url)

    async def drain(self, within: float) -> None:
        """Let the deletes under way finish, for at most `within` seconds (Deletions.drain)."""
        await self.deletions.drain(within)


def _streamed(
    hook: SegmentHook | None, chunk: int, offset: float
) -> Callable[[Segment], None] | None:
    """The client's on_segment for one chunk: the hook told which chunk and where it starts."""
    if hook is None:
        return None
    return functools.partial(hook, chunk, offset)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that broke a chunked transcription (not the cancellations it caused)."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return group.exceptions[0]
