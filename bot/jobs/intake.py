"""Admitting a note: the checks before download, then the job row with its reservation."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.jobs import Trigger
from bot.domain.notes import NoteRequest
from bot.domain.options import TranscriptionOptions
from bot.i18n import texts
from bot.jobs.quotas import Quotas
from bot.jobs.runner import JobRunner
from storage import notices, prefs, transcripts, usage, vocabulary
from storage.job_rows import Accepted, NewJob

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    QUEUED = "queued"
    IGNORED = "ignored"
    """Nothing to say: a blocked payer."""
    REFUSED = "refused"
    """Not queued; `reply` says why (None: stay quiet)."""


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    job_id: int | None = None
    reply: str | None = None
    """What to answer, in the payer's language; None: nothing."""
    paced: bool = False
    """Answered at most once in a while per payer (a flood gets one answer)."""


class Intake:
    """Decides whether a note is taken and, if so, queues it; never waits for transcription."""

    def __init__(
        self,
        quotas: Quotas,
        runner: JobRunner,
        *,
        max_file_size: int,
        max_audio_seconds: int,
        max_pending: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quotas = quotas
        self.clock = clock
        """Wall-clock seconds: whether a kept transcript is still retained."""
        self.db = quotas.db
        self.runner = runner
        self.max_file_size = max_file_size
        self.max_audio_seconds = max_audio_seconds
        self.max_pending = max_pending

    async def admit(
        self, request: NoteRequest, on_queued: Callable[[int], None] = lambda job_id: None
    ) -> Admission:
        """Queue the note for transcription paid by the request's payer, or say why not.

        `on_queued` runs with the new job's id before any worker can take the job."""
        note, t = request.note, texts.of(request.payer_language)
        where = (
            f"chat={request.chat_id} msg={request.message_id} user={request.payer_id} "
            f"kind={note.kind}"
        )
        blocked, options, kept = await self._read(request)
        if blocked:
            log.info("%s ignored: user blocked", where)
            return Admission(Verdict.IGNORED)
        if note.file_size is not None and note.file_size > self.max_file_size:
            log.info("%s refused: file too big bytes=%d", where, note.file_size)
            return self._refuse(request, t.too_big(note.file_size))
        limit = self.max_audio_seconds
        if note.duration is not None and note.duration > limit:
            log.info("%s refused: too long secs=%d", where, note.duration)
            return self._refuse(request, t.too_long(note.duration, limit))
        job = self._new_job(request, t, options)
        # A recording whose transcript is kept costs nothing: nothing is held for it.
        free = job.options_key in kept
        reserve = math.ceil(note.duration) if note.duration and not free else 0
        acceptance = await self.quotas.accept(job, reserve, max_pending=self.max_pending, free=free)
        if acceptance.outcome is Accepted.TOO_MANY:
            log.info("%s refused: %d notes pending", where, self.max_pending)
            # One short answer per burst: the answer is paced per payer.
            said = None if request.quiet else t(texts.TOO_MANY_PENDING)
            return Admission(Verdict.REFUSED, reply=said, paced=True)
        if acceptance.outcome is Accepted.DUPLICATE:
            log.info("%s duplicate of job=%s", where, acceptance.job_id)
            return self._refuse(request, t(texts.ALREADY), only_on_command=True)
        if acceptance.outcome is Accepted.OVER_QUOTA:
            log.info("%s refused: over quota left=%s", where, acceptance.left_seconds)
            # In a group's auto mode a user learns it at most once per period, not per note.
            if request.quiet and not await notices.first_quota_notice(
                self.db, request.chat_id, request.payer_id, job.period
            ):
                return Admission(Verdict.REFUSED)
            policy = self.quotas.policy
            text = t.over_quota(
                reserve, acceptance.left_seconds or 0, policy.period.value, policy.resets_at()
            )
            return Admission(Verdict.REFUSED, reply=text)
        assert acceptance.job_id is not None
        # Queued as it was accepted: the workers may start before the status message is out.
        on_queued(acceptance.job_id)
        self.runner.wake()
        log.info("%s queued job=%d declared_secs=%d", where, acceptance.job_id, reserve)
        return Admission(Verdict.QUEUED, job_id=acceptance.job_id)

    @staticmethod
    def _refuse(request: NoteRequest, reply: str, *, only_on_command: bool = False) -> Admission:
        """A refusal, said unless the note came quietly (auto mode) or, for `only_on_command`,
        unless it was asked for with /transcribe."""
        said = request.trigger is Trigger.COMMAND if only_on_command else not request.quiet
        return Admission(Verdict.REFUSED, reply=reply if said else None)

    async def _read(self, request: NoteRequest) -> tuple[bool, TranscriptionOptions, set[str]]:
        """Whether the payer is blocked, the note's options (the group's in a group, else the
        payer's own) and the options of the kept transcripts of its recording: read together,
        on PostgreSQL in one round trip."""
        # A guest chat's id may be another chat's: a guest note follows its caller's settings.
        private = request.private or request.chat_kind == "guest"
        chat_id = None if private else request.chat_id
        user_id = request.payer_id
        blocked, (language, speakers), terms, kept = await self.db.read(
            usage.blocked(user_id),
            prefs.note_settings_of(chat_id=chat_id, user_id=user_id),
            vocabulary.listed(*vocabulary.owner(chat_id=chat_id, user_id=user_id)),
            transcripts.options_kept(request.note.file_unique_id, now=int(self.clock())),
        )
        options = TranscriptionOptions(
            language=language, speakers=speakers, vocabulary=tuple(terms)
        )
        return blocked, options, kept

    def _new_job(
        self, request: NoteRequest, t: texts.Texts, options: TranscriptionOptions
    ) -> NewJob:
        """The job row; `options` are read at admission: a later /language, /speakers or
        /vocab does not change a queued note."""
        note = request.note
        return NewJob(
            chat_id=request.chat_id,
            message_id=request.message_id,
            chat_type=request.chat_type,
            thread_id=request.thread_id,
            payer_id=request.payer_id,
            author_id=request.author_id,
            trigger=request.trigger,
            kind=note.kind,
            file_id=note.file_id,
            file_size=note.file_size,
            file_name=note.file_name,
            declared_seconds=math.ceil(note.duration) if note.duration is not None else None,
            header=t.forwarded_from(request.forwarded_from) if request.forwarded_from else None,
            language=options.language,
            user_language=request.payer_language,
            period=self.quotas.policy.key(),
            speakers=options.speakers,
            vocabulary=" ".join(options.vocabulary) or None,
            file_unique_id=note.file_unique_id,
            chat_kind=request.chat_kind,
            inline_message_id=request.inline_message_id,
            options_key=options.key(),
        )
