"""The composition root: settings in, a ready Application (and its services) out.

`Voxgram.start()`/`stop()` open and close the services. The real start runs them from
`post_init`/`post_stop`; tests, which use `async with application`, call them directly —
one factory for both paths, so tests run what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import handlers
from bot.domain import digest
from bot.domain.quota import QuotaPolicy
from bot.health import Heartbeat
from bot.jobs.batching import Batches, BatchPolling
from bot.jobs.delivering import DeliveryRetry
from bot.jobs.digests import Digests
from bot.jobs.housekeeping import Housekeeper
from bot.jobs.intake import Intake
from bot.jobs.processor import Processor
from bot.jobs.quotas import Quotas
from bot.jobs.runner import JobRunner
from bot.settings import Settings
from bot.telegram import application as telegram_app
from bot.telegram.delivery import TelegramDelivery
from bot.telegram.drafts import DRAFT_EVERY
from bot.telegram.files import TelegramFiles
from bot.telegram.guest import ByChatKind, GuestDelivery
from bot.telegram.menu import set_commands
from bot.telegram.notes import NoteDesk
from bot.telegram.outbox import Outbox
from bot.telegram.pacing import COURTESY_WITHIN
from bot.telegram.status import StatusBoard
from bot.telegram.updates import Backoff
from bot.transcription.batch import BatchClient
from bot.transcription.deletions import CANCELLED_DELETE_SECONDS
from bot.transcription.mistral import DEFAULT_TIMEOUT, MistralClient, MistralError, RetryPolicy
from bot.transcription.mistral_wire import Deadline, ReadTimeout
from bot.transcription.transcriber import Transcriber
from storage import leases
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning:
    """Knobs that are not user settings: tests shorten waits, the benchmark measures."""

    mistral_retry: RetryPolicy = field(default_factory=RetryPolicy)
    mistral_timeout: float | None = None
    transcription_read: ReadTimeout = field(default_factory=ReadTimeout)
    """One transcription request's read timeout from its audio's length (at most the above)."""
    transcription_deadline: Deadline = field(default_factory=Deadline)
    """One note's whole transcription, retries included, from its audio's length."""
    download_backoff: float = 1.0
    telegram_max_retries: int = 3
    """Retries of a call by the bot's pacing after a 429 before it raises RetryAfter."""
    courtesy_within: float = COURTESY_WITHIN
    """Seconds a status message or progress edit may take to go out; later, it is skipped."""
    telegram_timeout: float | None = None
    """Seconds a Bot API call may take to connect, send or answer (None: PTB's default)."""
    delivery_retry: DeliveryRetry = field(default_factory=DeliveryRetry)
    """How long and how often a made transcript is tried again (bound: DELIVERY_BOUND)."""
    progress_every: float = 5.0
    """Seconds between edits of a long note's status message with its progress."""
    draft_every: float = DRAFT_EVERY
    """Seconds between two live drafts of one note, at least."""
    overall_rate: float = 30.0
    """Requests to chats per second, all chats together (0: no limit)."""
    group_rate: tuple[float, float] = (1, 3.0)
    """At most this many messages per that many seconds to one group: Telegram allows about
    20 a minute, and a steady drip never trips its sliding window the way a burst would."""
    clock: Callable[[], float] = field(default=time.time)
    """Wall-clock seconds for transcript retention; tests move it forward instead of waiting."""
    purge_interval: float = 600.0
    """How often expired transcripts and usage carried over from past periods are deleted."""
    telegram_backoff: Backoff = field(default_factory=Backoff)
    """Waits between attempts while Telegram does not answer (start, polls, setWebhook)."""
    replies_per_chat: int = 20
    """Replies one chat may have waiting to be sent; more are dropped with a log line."""
    refusal_every: float = 5.0
    """A user gets at most one refusal (admin only, over quota, not audio, …) this often."""
    replies_at_stop: float = 5.0
    """Seconds waiting replies may still take at a stop before they are dropped."""
    batch_polling: BatchPolling = field(default_factory=BatchPolling)
    """How often a note's batch job is looked at (BATCH_OVER_SECONDS)."""
    model_check_timeout: float = 30.0
    """Seconds the start's check of MISTRAL_MODEL (in the background) may take."""
    digest_budget: int = digest.BUDGET
    """Characters of transcript in one summary or translation request."""


WORKERS_PER_SLOT = 4

POLL_SECONDS = 1.0
"""On PostgreSQL, how often idle workers look for jobs other replicas queued or lost."""


class Voxgram:
    """Everything the bot is made of, built once from the settings."""

    def __init__(
        self, settings: Settings, tuning: Tuning | None = None, *, worker: bool = False
    ) -> None:
        self.settings = settings
        self.tuning = tuning = tuning or Tuning()
        self.worker = worker
        """Run jobs only: no polling, no webhook server (`python -m bot worker`)."""
        self.owner = leases.new_owner()
        self.heartbeat = Heartbeat(settings.DATABASE_PATH)
        self._webhook_watch: asyncio.Task[None] | None = None
        self._model_check: asyncio.Task[None] | None = None
        self._replicas: asyncio.Task[None] | None = None
        self.application = telegram_app.build(
            settings,
            on_poll=self.heartbeat.beat,
            overall_rate=tuning.overall_rate,
            group_rate=tuning.group_rate,
            max_retries=tuning.telegram_max_retries,
            courtesy_within=tuning.courtesy_within,
            timeout=tuning.telegram_timeout,
            hooks=(self._post_init, self._post_stop, self._post_shutdown),
        )
        self.db = Database(settings.DATABASE_PATH, settings.DATABASE_URL.get_secret_value())
        policy = QuotaPolicy(
            settings.DEFAULT_QUOTA_SECONDS, settings.QUOTA_PERIOD, settings.ADMIN_IDS
        )
        self.quotas = Quotas(self.db, policy)
        self._build_transcription()
        status = StatusBoard()
        self.outbox = Outbox(per_chat=tuning.replies_per_chat, refusal_every=tuning.refusal_every)
        # One folder per process: replicas sharing a volume never sweep each other's jobs.
        workdir = settings.DATABASE_PATH.parent / "work" / self.owner.replace(":", "-")
        self._build_jobs(status, workdir)
        self.housekeeper = Housekeeper(
            self.db,
            self.mistral,
            policy,
            workdir=workdir,
            clock=tuning.clock,
            interval=tuning.purge_interval,
            retention_hours=settings.TRANSCRIPT_RETENTION_HOURS,
        )
        self._register(status)

    def _register(self, status: StatusBoard) -> None:
        """The intake of notes and every handler, wired to the services."""
        settings, tuning = self.settings, self.tuning
        intake = Intake(
            self.quotas,
            self.runner,
            max_file_size=self.files.max_file_size,
            max_audio_seconds=settings.MAX_AUDIO_SECONDS,
            max_pending=settings.MAX_PENDING_PER_USER,
            clock=tuning.clock,
        )
        handlers.register(
            self.application,
            handlers.Deps(
                settings=settings,
                db=self.db,
                quotas=self.quotas,
                desk=NoteDesk(intake, status, self.outbox, live=settings.LIVE_TRANSCRIPTS),
                outbox=self.outbox,
                digests=self.digests,
                clock=tuning.clock,
                beat=self.heartbeat.beat,
                forget_batches=self.batches.forget,
            ),
        )

    def _build_transcription(self) -> None:
        """Mistral's client, Telegram's files, the transcriber between them, and summaries."""
        settings, tuning = self.settings, self.tuning
        timeout = DEFAULT_TIMEOUT
        if tuning.mistral_timeout is not None:
            timeout = type(DEFAULT_TIMEOUT)(tuning.mistral_timeout, connect=10.0)
        self.mistral = MistralClient(
            settings.MISTRAL_API_URL,
            settings.MISTRAL_API_KEY.get_secret_value(),
            settings.MISTRAL_MODEL,
            retry=tuning.mistral_retry,
            timeout=timeout,
            read_timeout=tuning.transcription_read,
        )
        self.files = TelegramFiles(
            self.application.bot,
            api_url=settings.TELEGRAM_API_URL,
            token=settings.TELEGRAM_BOT_TOKEN.get_secret_value(),
            local_mode=settings.TELEGRAM_LOCAL_MODE,
            backoff=tuning.download_backoff,
        )
        self.transcriber = Transcriber(
            self.mistral,
            mode=settings.UPLOAD_MODE,
            limit=settings.MAX_CONCURRENT_TRANSCRIPTIONS,
            chunk_seconds=settings.CHUNK_SECONDS,
            deadline=tuning.transcription_deadline,
        )
        self.digests = Digests(
            self.db,
            self.mistral,
            model=settings.MISTRAL_CHAT_MODEL,
            per_day=settings.SUMMARIES_PER_DAY,
            admins=settings.ADMIN_IDS,
            clock=tuning.clock,
            budget=tuning.digest_budget,
        )

    def _build_jobs(self, status: StatusBoard, workdir: Path) -> None:
        """The processor of one job and the workers that run them."""
        settings, tuning = self.settings, self.tuning
        # Always there: a batch planned before a restart is finished even if the setting has
        # been turned off since.
        self.batches = Batches(
            self.db,
            BatchClient(self.mistral),
            self.transcriber,
            over_seconds=settings.BATCH_OVER_SECONDS,
            polling=tuning.batch_polling,
        )
        processor = Processor(
            db=self.db,
            quotas=self.quotas,
            downloader=self.files,
            transcriber=self.transcriber,
            delivery=ByChatKind(
                TelegramDelivery(
                    self.application.bot,
                    status,
                    progress_every=tuning.progress_every,
                    live=settings.LIVE_TRANSCRIPTS,
                    draft_every=tuning.draft_every,
                ),
                GuestDelivery(self.application.bot, progress_every=tuning.progress_every),
            ),
            workdir=workdir,
            max_audio_seconds=settings.MAX_AUDIO_SECONDS,
            retention_hours=settings.TRANSCRIPT_RETENTION_HOURS,
            delivery_retry=tuning.delivery_retry,
            clock=tuning.clock,
            batches=self.batches,
            owner=self.owner,
            lease_seconds=settings.JOB_LEASE_SECONDS,
        )
        # More workers than Mistral slots: downloading, probing and sending replies (paced by
        # Telegram's limits) must not keep a slot idle. Mistral itself stays bounded by the
        # transcriber's slots, shared fairly between chats.
        self.workers = WORKERS_PER_SLOT * settings.MAX_CONCURRENT_TRANSCRIPTIONS
        self.runner = JobRunner(
            self.db,
            processor,
            workers=self.workers,
            owner=self.owner,
            lease_seconds=settings.JOB_LEASE_SECONDS,
            poll=POLL_SECONDS if self.db.postgres else None,
        )

    async def start(self) -> None:
        """Open the database, clean up after a crash, start the workers."""
        await self.db.open()
        if not self.worker:
            await set_commands(self.application.bot)
        await self.housekeeper.before_jobs()
        await self.runner.start()
        self.heartbeat.beat()  # Telegram answered getMe just before
        # In the background: a slow or failing Mistral must not hold the start up.
        if self.db.postgres:
            # Telegram's limits are the bot's: each replica paces itself at its share of them.
            self._replicas = asyncio.create_task(
                telegram_app.share_limits(
                    telegram_app.pacing_of(self.application),
                    lambda: leases.alive(self.db, self.owner),
                    every=leases.REPLICA_SECONDS / 10,
                )
            )
        self._model_check = asyncio.create_task(
            check_model(self.mistral, self.settings.MISTRAL_MODEL, self.tuning.model_check_timeout)
        )
        # Guest Mode is switched on in @BotFather; without it no guest_message ever comes. The
        # bot's user is the getMe answer the Application fetched as it started.
        on = self.application.bot.bot.supports_guest_queries
        log.info("guest mode: %s", "on" if on else "off")
        bot = self.application.bot
        if self.worker:
            watch = telegram_app.watch_bot(bot, self.heartbeat.beat)
        elif self.settings.WEBHOOK_URL:
            watch = telegram_app.watch_webhook(bot, self.settings.WEBHOOK_URL, self.heartbeat.beat)
        else:
            watch = None
        if watch is not None:
            self._webhook_watch = asyncio.create_task(watch)
        log.info(
            "voxgram started: role=%s upload_mode=%s mistral_slots=%d workers=%d owner=%s",
            "worker" if self.worker else "bot",
            self.settings.UPLOAD_MODE.value,
            self.settings.MAX_CONCURRENT_TRANSCRIPTIONS,
            self.workers,
            self.owner,
        )

    async def stop(self) -> None:
        """Let running jobs finish within the grace period, then close everything. Jobs still
        waiting for a Mistral slot go back to the queue at once: the grace is for those whose
        audio is already being transcribed."""
        await self._stop_jobs()
        await self.close()

    async def _stop_jobs(self) -> None:
        await self.digests.close()
        await self.outbox.close(self.tuning.replies_at_stop)
        self.transcriber.close()
        await self.runner.stop(self.settings.SHUTDOWN_GRACE_SECONDS)
        await self.transcriber.drain(CANCELLED_DELETE_SECONDS)

    async def close(self) -> None:
        if self._model_check is not None:
            self._model_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._model_check
            self._model_check = None
        if self._replicas is not None:
            self._replicas.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replicas
            self._replicas = None
            with contextlib.suppress(Exception):
                await leases.gone(self.db, self.owner)
        if self._webhook_watch is not None:
            self._webhook_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_watch
            self._webhook_watch = None
        await self.housekeeper.close()
        await self.files.aclose()
        await self.mistral.aclose()
        await self.db.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Voxgram]:
        """Run with long polling inside `async with` (tests, the benchmark)."""
        app = self.application
        async with app:
            try:
                await self.start()  # inside: a start cut short still closes what it opened
                polling = telegram_app.Polling(app, self.tuning.telegram_backoff)
                await polling.start()
                try:
                    yield self
                finally:
                    await polling.stop()
            finally:
                await self.stop()

    def run(self) -> None:
        """The real start, until SIGINT/SIGTERM."""
        telegram_app.serve(
            self.application, self.settings, self.tuning.telegram_backoff, worker=self.worker
        )

    async def _post_init(self, _: Any) -> None:
        await self.start()

    async def _post_stop(self, _: Any) -> None:
        await self._stop_jobs()

    async def _post_shutdown(self, _: Any) -> None:
        await self.close()


async def check_model(mistral: MistralClient, model: str, within: float) -> None:
    """Log one warning line if Mistral's model list says `model` cannot transcribe audio, or if
    the list cannot be read within `within` seconds; the bot runs on either way."""
    try:
        async with asyncio.timeout(within):
            capabilities = await mistral.model_capabilities(model)
    except (TimeoutError, MistralError) as exc:
        log.warning("MISTRAL_MODEL=%s not checked: the model list is unavailable (%s)", model, exc)
        return
    if capabilities is None:
        log.warning(
            "MISTRAL_MODEL=%s is not in Mistral's model list: transcriptions may fail", model
        )
    elif "audio_transcription" not in capabilities:
        log.warning(
            "MISTRAL_MODEL=%s lacks the audio_transcription capability: transcriptions may fail",
            model,
        )
    else:
        log.info("MISTRAL_MODEL=%s transcribes audio", model)
