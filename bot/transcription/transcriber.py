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
from dataclasses import dataclass, replace
from pathlib import Path

from bot.domain.options import TranscriptionOptions
from bot.domain.transcript import Notice, Segment, Transcript, number_speakers, with_notice
from bot.settings import UploadMode
from bot.transcription import audio, chunking
from bot.transcription.mistral import MistralBiasRefused, MistralClient, MistralUnavailable
from bot.transcription.slots import FairSlots, Owner

log = logging.getLogger(__name__)

CANCELLED_DELETE_SECONDS = 2.0
"""How long a cancelled transcription tries to delete its upload before leaving it for later."""

FileHook = Callable[[str], Awaitable[None]]
Progress = Callable[[int, int], None]
"""Called with (chunks done, chunks in all) each time a chunk's transcript comes back."""


async def _noop(_: str) -> None:
    return None


def _no_progress(done: int, total: int) -> None:
    return None


MIN_CHUNK_SECONDS = 300.0
PLAIN = TranscriptionOptions()
"""No pinned language, no speakers, no vocabulary."""


@dataclass
class _Asking:
    """One note's options, and whether the model refused its vocabulary (the note's other
    requests then go without it)."""

    options: TranscriptionOptions
    bias_refused: bool = False


@dataclass(frozen=True, slots=True)
class Deadline:
    """How long one note's whole transcription may take, uploads, waits for a slot and retries
    included: `per_audio_second` for each second of audio, at least `minimum` seconds. Past
    it the note fails as Mistral's trouble, and its slots are free for the others."""

    minimum: float = 180.0
    per_audio_second: float = 3.0

    def for_audio(self, seconds: float) -> float:
        return max(self.minimum, self.per_audio_second * seconds)


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
        deadline: Deadline = Deadline(),
    ) -> None:
        self.mistral = mistral
        self.mode = mode
        self.slots = FairSlots(limit)
        self.chunk_seconds = chunk_seconds
        self.deadline = deadline
        self._deletes: set[asyncio.Task[None]] = set()

    async def transcribe(
        self,
        path: Path,
        workdir: Path,
        *,
        duration: float,
        options: TranscriptionOptions = PLAIN,
        on_upload: FileHook = _noop,
        on_delete: FileHook = _noop,
        on_progress: Progress = _no_progress,
        chat: Hashable = None,
        sendable: bool = False,
    ) -> Transcript:
        """Transcribe one local file (its audio track only) whose probed length is `duration`.
        Mistral's slots are shared fairly between chats, then between notes of a chat; past
        the note's Deadline it is given up with MistralUnavailable. The transcript's notices
        say what of `options` could not be applied."""
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
                    on_progress=on_progress,
                    chat=chat,
                    sendable=sendable,
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
        on_progress: Progress,
        chat: Hashable,
        sendable: bool,
    ) -> Transcript:
        asking = _Asking(options)
        send = functools.partial(
            self._send,
            owner=(chat, object()),
            asking=asking,
            on_upload=on_upload,
            on_delete=on_delete,
        )
        if duration <= self.chunk_seconds:
            # `sendable` (probe's finding) spares opening the file again to see it is.
            track = (
                path if sendable else await asyncio.to_thread(audio.extract_audio, path, workdir)
            )
            transcript = await send(track, duration)
        else:
            transcript = await self._chunked(path, workdir, duration, send, on_progress)
            if options.diarize:
                transcript = with_notice(transcript, Notice.SPEAKERS_PER_PART)
        if options.speakers and not options.diarize:
            transcript = with_notice(transcript, Notice.SPEAKERS_NEED_AUTO_LANGUAGE)
        if asking.bias_refused:
            transcript = with_notice(transcript, Notice.VOCABULARY_NOT_APPLIED)
        return transcript

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
        send: Callable[[Path, float], Awaitable[Transcript]],
        on_progress: Progress,
    ) -> Transcript:
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

        async def one(chunk: chunking.Chunk) -> tuple[chunking.Chunk, Transcript]:
            nonlocal done
            result = await send(chunk.path, chunk.duration)
            done += 1
            on_progress(done, len(tasks) if complete else max(expected, len(tasks)))
            return chunk, result

        splitter = asyncio.ensure_future(asyncio.to_thread(cut))
        try:
            async with asyncio.TaskGroup() as group:
                while (item := await found.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    tasks.append(group.create_task(one(item)))
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
        *,
        owner: Owner,
        asking: _Asking,
        on_upload: FileHook,
        on_delete: FileHook,
    ) -> Transcript:
        if self.mode is UploadMode.DIRECT:
            async with self.slots.hold(owner):
                return await self._ask(asking, seconds, path=track)
        # The upload goes before taking a slot: the slots bound transcription requests, and a
        # slot held while a file uploads is a transcription not made. The signed URL is taken
        # in the slot, so it cannot expire while the note waits for one.
        file_id = await self.mistral.upload(track)
        cancelled = False
        try:
            await on_upload(file_id)
            async with self.slots.hold(owner):
                url = await self.mistral.signed_url(file_id)
                return await self._ask(asking, seconds, file_url=url)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if cancelled:
                # A stop past its grace, or a sibling chunk that failed: a short try, so a
                # Mistral that does not answer cannot hold the stop up (the recorded id is
                # deleted at the next start).
                await self._delete(file_id, on_delete, within=CANCELLED_DELETE_SECONDS)
            else:
                # In the background: the transcript need not wait for Mistral to delete its
                # copy (nor hang with a DELETE that hangs); drain() waits at stop.
                task = asyncio.create_task(self._delete(file_id, on_delete))
                self._deletes.add(task)
                task.add_done_callback(self._deletes.discard)

    async def _ask(
        self,
        asking: _Asking,
        seconds: float,
        *,
        path: Path | None = None,
        file_url: str | None = None,
    ) -> Transcript:
        """One transcription request with the note's options; asked again without the
        vocabulary if the model refuses it (a refused request is not billed)."""
        options = asking.options
        bias = () if asking.bias_refused else options.vocabulary
        try:
            transcript = await self.mistral.transcribe(
                path=path,
                file_url=file_url,
                language=options.language,
                diarize=options.diarize,
                context_bias=bias,
                audio_seconds=seconds,
            )
        except MistralBiasRefused:
            asking.bias_refused = True
            transcript = await self.mistral.transcribe(
                path=path,
                file_url=file_url,
                language=options.language,
                diarize=options.diarize,
                audio_seconds=seconds,
            )
        # Mistral numbers speakers per request: each request's are numbered on their own.
        return number_speakers(transcript) if options.diarize else transcript

    async def drain(self, within: float) -> None:
        """Let the deletes under way finish, for at most `within` seconds; the ids of those
        that do not are recorded and deleted at the next start."""
        if self._deletes:
            await asyncio.wait(set(self._deletes), timeout=within)
        late = list(self._deletes)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _delete(
        self, file_id: str, on_delete: FileHook, *, within: float | None = None
    ) -> None:
        """Delete the uploaded copy (giving up after `within` seconds, if given); if that
        fails the recorded id is retried at next start."""
        try:
            async with asyncio.timeout(within):
                await self.mistral.delete(file_id)
        except Exception:
            log.warning("mistral file=%s could not be deleted; kept for cleanup", file_id)
            return
        await on_delete(file_id)


def merge(parts: list[tuple[chunking.Chunk, Transcript]]) -> Transcript:
    """One transcript from the chunks' transcripts, in order, with times shifted to the whole.

    Without timestamps (a pinned language) each chunk's text is one segment at the chunk's start.
    """
    segments: list[Segment] = []
    for chunk, part in sorted(parts, key=lambda p: p[0].start):
        if part.timestamps:
            segments.extend(
                replace(s, start=s.start + chunk.start, end=s.end + chunk.start)
                for s in part.segments
            )
        elif part.text:
            segments.append(Segment(chunk.start, chunk.start + chunk.duration, part.text))
    languages = [p.language for _, p in parts if p.language]
    return Transcript(
        segments=tuple(segments),
        language=languages[0] if languages else None,
        billed_seconds=sum(p.billed_seconds for _, p in parts),
        timestamps=all(p.timestamps for _, p in parts),
    )


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that broke a chunked transcription (not the cancellations it caused)."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return group.exceptions[0]
