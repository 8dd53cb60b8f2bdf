"""The composition root: settings in, a ready Application (and its services) out.

`Voxgram.start()`/`stop()` open and close the services. The real start runs them from
`post_init`/`post_stop`; tests, which use `async with application`, call them directly —
one factory for both paths, so tests run what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.constants import FloodLimit
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import i18n
from bot.domain.quota import period_key
from bot.health import POLL_TIMEOUT, Heartbeat, PollRequest
from bot.i18n import texts
from bot.jobs.intake import Intake
from bot.jobs.processor import Pipeline
from bot.jobs.runner import JobRunner
from bot.settings import Settings
from bot.telegram import retained
from bot.telegram.files import TelegramFiles
from bot.telegram.status import StatusBoard
from bot.transcription.mistral import DEFAULT_TIMEOUT, MistralClient, RetryPolicy
from bot.transcription.transcriber import CANCELLED_DELETE_SECONDS, Transcriber
from handlers import privacy
from handlers.admin import AdminCommands
from handlers.commands import HelpCommand, LanguageCommand, UsageCommand
from handlers.files import TranscriptFiles
from handlers.groups import (
    AutoTranscribeCommand,
    MembershipHandler,
    MigrationHandler,
    TranscribeCommand,
)
from handlers.media import MediaHandler
from handlers.privacy import ForgetMe
from storage import carried, jobs, transcripts
from storage.db import Database

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]


@dataclass(frozen=True)
class Tuning:
    """Knobs that are not user settings: tests shorten waits, the benchmark measures."""

    mistral_retry: RetryPolicy = field(default_factory=RetryPolicy)
    mistral_timeout: float | None = None
    download_backoff: float = 1.0
    telegram_max_retries: int = 3
    progress_every: float = 5.0
    """Seconds between edits of a long note's status message with its progress."""
    overall_rate: float = FloodLimit.MESSAGES_PER_SECOND
    """Requests to chats per second, all chats together (0: no limit)."""
    group_rate: tuple[float, float] = (1, 3.0)
    """At most this many messages per that many seconds to one group: Telegram allows about
    20 a minute, and a steady drip never trips its sliding window the way a burst would."""
    clock: Callable[[], float] = field(default=time.time)
    """Wall-clock seconds for transcript retention; tests move it forward instead of waiting."""
    purge_interval: float = 600.0
    """How often expired transcripts (a press on a button purges too) and usage carried over
    from past periods are deleted."""


WORKERS_PER_SLOT = 4

# Only new messages: an edited command or caption must not run or transcribe again.
NEW = filters.UpdateType.MESSAGE
MEDIA = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.VIDEO | filters.Document.ALL


class Voxgram:
    """Everything the bot is made of, built once from the settings."""

    def __init__(self, settings: Settings, tuning: Tuning | None = None) -> None:
        self.settings = settings
        self.tuning = tuning or Tuning()
        token = settings.TELEGRAM_BOT_TOKEN.get_secret_value()
        self.heartbeat = Heartbeat(settings.DATABASE_PATH)
        self._webhook_watch: asyncio.Task[None] | None = None
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(f"{settings.TELEGRAM_API_URL}/bot")
            .base_file_url(f"{settings.TELEGRAM_API_URL}/file/bot")
            .local_mode(settings.TELEGRAM_LOCAL_MODE)
            # Its own client for getUpdates, as PTB does by default, which also records
            # every successful poll for `voxgram health`.
            .get_updates_request(PollRequest(self.heartbeat.beat))
            # Handlers only queue jobs, so they may run side by side; workers do the waiting.
            .concurrent_updates(True)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=self.tuning.overall_rate,
                    group_max_rate=self.tuning.group_rate[0],
                    group_time_period=self.tuning.group_rate[1],
                    max_retries=self.tuning.telegram_max_retries,
                )
            )
            .post_init(self._post_init)
            .post_stop(self._post_stop)
            .post_shutdown(self._post_shutdown)
            .build()
        )
        bot = self.application.bot
        timeout = DEFAULT_TIMEOUT
        if self.tuning.mistral_timeout is not None:
            timeout = type(DEFAULT_TIMEOUT)(self.tuning.mistral_timeout, connect=10.0)
        self.db = Database(settings.DATABASE_PATH, settings.DATABASE_URL.get_secret_value())
        self.mistral = MistralClient(
            settings.MISTRAL_API_URL,
            settings.MISTRAL_API_KEY.get_secret_value(),
            settings.MISTRAL_MODEL,
            retry=self.tuning.mistral_retry,
            timeout=timeout,
        )
        self.files = TelegramFiles(
            bot,
            api_url=settings.TELEGRAM_API_URL,
            token=token,
            local_mode=settings.TELEGRAM_LOCAL_MODE,
            backoff=self.tuning.download_backoff,
        )
        self.transcriber = Transcriber(
            self.mistral,
            mode=settings.UPLOAD_MODE,
            limit=settings.MAX_CONCURRENT_TRANSCRIPTIONS,
            chunk_seconds=settings.CHUNK_SECONDS,
        )
        self.status = StatusBoard()
        self.pipeline = Pipeline(
            settings,
            self.db,
            bot,
            self.files,
            self.transcriber,
            workdir=settings.DATABASE_PATH.parent / "work",
            progress_every=self.tuning.progress_every,
            clock=self.tuning.clock,
            status=self.status,
        )
        # More workers than Mistral slots: downloading, probing and sending replies (paced by
        # Telegram's limits) must not keep a slot idle. Mistral itself stays bounded by the
        # transcriber's slots, shared fairly between chats.
        workers = WORKERS_PER_SLOT * settings.MAX_CONCURRENT_TRANSCRIPTIONS
        self.runner = JobRunner(self.db, self.pipeline, workers=workers)
        self.intake = Intake(settings, self.db, bot, self.runner, self.status)
        self._purger: asyncio.Task[None] | None = None
        self._cleanup: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        """Every handler, in the order Telegram updates should meet them."""
        app, settings = self.application, self.settings
        # Every update Telegram delivers (polled or by webhook) is a sign of life for health.
        app.add_handler(TypeHandler(Update, self._beat), group=-1)
        # Help, usage and the recognition language for everyone.
        help_command = HelpCommand(settings)
        app.add_handler(CommandHandler(["start", "help"], help_command, filters=NEW))
        app.add_handler(CommandHandler("usage", UsageCommand(settings, self.db), filters=NEW))
        app.add_handler(CommandHandler("language", LanguageCommand(settings, self.db), filters=NEW))
        # Privacy: /forgetme asks, its button deletes.
        forget = ForgetMe(settings, self.db)
        app.add_handler(CommandHandler("forgetme", forget.ask, filters=NEW))
        app.add_handler(CallbackQueryHandler(forget.confirm, pattern=privacy.CALLBACK_PATTERN))
        # Bot admins' commands: each refuses non-admins itself, with a reply.
        admin = AdminCommands(settings, self.db)
        app.add_handler(CommandHandler("setquota", admin.setquota, filters=NEW))
        app.add_handler(CommandHandler("resetusage", admin.resetusage, filters=NEW))
        app.add_handler(CommandHandler("block", admin.block, filters=NEW))
        app.add_handler(CommandHandler("unblock", admin.unblock, filters=NEW))
        app.add_handler(CommandHandler("stats", admin.stats, filters=NEW))
        # Groups: on-demand transcription, the auto-mode switch, onboarding, migration.
        app.add_handler(CommandHandler("transcribe", TranscribeCommand(self.intake), filters=NEW))
        app.add_handler(
            CommandHandler("autotranscribe", AutoTranscribeCommand(settings, self.db), filters=NEW)
        )
        app.add_handler(ChatMemberHandler(MembershipHandler(self.db)))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, MigrationHandler(self.db)))
        # Media; only new messages: an edited caption is not a new note.
        app.add_handler(MessageHandler(NEW & MEDIA, MediaHandler(self.intake, self.db)))
        # The .srt/.txt buttons under transcripts.
        app.add_handler(
            CallbackQueryHandler(
                TranscriptFiles(self.db, self.tuning.clock), pattern=retained.CALLBACK_PATTERN
            )
        )
        # Any other button (from an older version, say) is still answered: the client would
        # otherwise show its spinner until Telegram gives up.
        app.add_handler(CallbackQueryHandler(self._unknown_button))
        app.add_error_handler(self._on_error)

    async def start(self) -> None:
        """Open the database, clean up after a crash, start the workers."""
        await self.db.open()
        await self._set_commands()
        # Read before any job of this run can record an upload of its own.
        leftovers = await jobs.leftover_uploads(self.db)
        await asyncio.to_thread(self._sweep_workdir)
        await self._purge()
        await self.runner.start()
        self.heartbeat.beat()  # Telegram answered getMe just before
        if self.settings.WEBHOOK_URL:
            self._webhook_watch = asyncio.create_task(self._watch_webhook())
        self._purger = asyncio.create_task(self._purge_expired(), name="voxgram-purge")
        if leftovers:
            # In the background: during a Mistral outage the bot must answer meanwhile.
            self._cleanup = asyncio.create_task(
                self._delete_leftover_uploads(leftovers), name="voxgram-cleanup"
            )
        log.info(
            "voxgram started: upload_mode=%s mistral_slots=%d workers=%d",
            self.settings.UPLOAD_MODE.value,
            self.settings.MAX_CONCURRENT_TRANSCRIPTIONS,
            WORKERS_PER_SLOT * self.settings.MAX_CONCURRENT_TRANSCRIPTIONS,
        )

    def _sweep_workdir(self) -> None:
        """Remove what jobs a crash interrupted left on disk: audio must not linger."""
        root = self.pipeline.workdir
        root.mkdir(parents=True, exist_ok=True)
        stale = list(root.iterdir())
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        if stale:
            log.info("removed %d leftover job folders", len(stale))

    async def stop(self) -> None:
        """Let running jobs finish within the grace period, then close everything. Jobs still
        waiting for a Mistral slot go back to the queue at once: the grace is for those whose
        audio is already being transcribed."""
        await self._stop_jobs()
        await self.close()

    async def _stop_jobs(self) -> None:
        self.transcriber.slots.close()
        await self.runner.stop(self.settings.SHUTDOWN_GRACE_SECONDS)
        await self.transcriber.drain(CANCELLED_DELETE_SECONDS)

    async def close(self) -> None:
        for task in (self._webhook_watch, self._purger, self._cleanup):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._webhook_watch = self._purger = self._cleanup = None
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
                assert app.updater is not None
                await app.updater.start_polling(
                    poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES
                )
                await app.start()
                try:
                    yield self
                finally:
                    await app.updater.stop()
                    await app.stop()
            finally:
                await self.stop()

    def run(self) -> None:
        """The real start, until SIGINT/SIGTERM: webhooks when WEBHOOK_URL is set, else long
        polling. Pending updates are kept either way: notes sent while down are transcribed."""
        settings = self.settings
        if settings.WEBHOOK_URL:
            # The proxy in front forwards Telegram's POSTs to the same path on this port.
            self.application.run_webhook(
                listen=settings.WEBHOOK_LISTEN,
                port=settings.WEBHOOK_PORT,
                url_path=urlsplit(settings.WEBHOOK_URL).path,
                webhook_url=settings.WEBHOOK_URL,
                secret_token=settings.WEBHOOK_SECRET.get_secret_value() or None,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
                close_loop=False,
            )
            return
        self.application.run_polling(
            timeout=POLL_TIMEOUT,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            close_loop=False,
        )

    async def _post_init(self, _: Application) -> None:  # type: ignore[type-arg]
        await self.start()

    async def _post_stop(self, _: Application) -> None:  # type: ignore[type-arg]
        await self._stop_jobs()

    async def _post_shutdown(self, _: Application) -> None:  # type: ignore[type-arg]
        await self.close()

    async def _beat(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An update arrived: Telegram reaches us."""
        self.heartbeat.beat()

    async def _watch_webhook(self) -> None:
        """In webhook mode a quiet bot gets no requests: ask Telegram every POLL_TIMEOUT
        seconds whether our webhook is still set, and count its answer as a heartbeat."""
        while True:
            await asyncio.sleep(POLL_TIMEOUT)
            try:
                info = await self.application.bot.get_webhook_info()
            except TelegramError as exc:
                log.warning("webhook check failed: %s", exc.message)
                continue
            if info.url == self.settings.WEBHOOK_URL:
                self.heartbeat.beat()
            else:
                log.warning("webhook is not set at Telegram (url=%r)", info.url)

    async def _set_commands(self) -> None:
        """The command menu in every UI language; Telegram shows users the one of their
        language, English (the default list) to everyone else."""
        bot = self.application.bot
        for language in i18n.UI_LANGUAGES:
            t = texts.of(language)
            commands = [BotCommand(name, t(about)) for name, about in texts.COMMANDS.items()]
            code = None if language == i18n.DEFAULT else language
            try:
                await bot.set_my_commands(commands, language_code=code)
            except TelegramError as exc:
                # A menu is a convenience: the bot works without it.
                log.warning("command menu language=%s not set: %s", language, exc.message)

    async def _purge_expired(self) -> None:
        """Every interval after the one at start, purge again."""
        while True:
            await asyncio.sleep(self.tuning.purge_interval)
            await self._purge()

    async def _purge(self) -> None:
        """Delete transcripts past TRANSCRIPT_RETENTION_HOURS, and the seconds forgotten users
        carried over in periods that have ended."""
        try:
            purged = await transcripts.purge(self.db, now=int(self.tuning.clock()))
            if purged:
                log.info("purged %d expired transcripts", purged)
            purged = await carried.purge(self.db, period_key(self.settings.QUOTA_PERIOD))
            if purged:
                log.info("purged %d usage counts carried over from ended periods", purged)
        except Exception:
            log.exception("purging expired data failed")

    async def _delete_leftover_uploads(self, file_ids: list[str]) -> None:
        """Files a crash left at Mistral are deleted (they would be kept 30 days): one try
        each, as Mistral may be down; what is not deleted is tried again at the next start."""
        for file_id in file_ids:
            try:
                await self.mistral.delete(file_id, attempts=1)
            except Exception:
                log.warning("leftover mistral file=%s still not deleted", file_id)
                continue
            try:
                await jobs.forget_upload(self.db, file_id)
            except Exception:
                log.exception("leftover mistral file=%s deleted but not forgotten", file_id)
                continue
            log.info("deleted leftover mistral file=%s", file_id)

    async def _unknown_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press on a button no handler knows: answered, silently."""
        if update.callback_query is not None:
            await update.callback_query.answer()

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """One error handler: log with ids only; the user gets a short apology in private."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update=%s failed", update_id, exc_info=context.error)
        if (
            isinstance(update, Update)
            and update.effective_message
            and update.effective_chat
            and update.effective_chat.type == "private"
        ):
            user = update.effective_user
            t = texts.of(user.language_code if user else None)
            try:
                await update.effective_message.reply_text(t(texts.FAILED))
            except Exception:
                log.warning("update=%s apology not sent", update_id)
