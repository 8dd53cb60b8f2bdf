"""Telegram handlers, one module per feature, and the order updates meet them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.jobs.digests import Digests
from bot.jobs.quotas import Quotas
from bot.settings import Settings
from bot.telegram.keyboards import DIGEST_PATTERN as DIGEST_BUTTON
from bot.telegram.keyboards import TRANSCRIPT_PATTERN as TRANSCRIPT_BUTTON
from bot.telegram.notes import NoteDesk
from bot.telegram.outbox import Outbox
from handlers import errors, guest, privacy
from handlers.admin import AdminCommands
from handlers.commands import HelpCommand, LanguageCommand, UsageCommand
from handlers.digests import DigestButtons
from handlers.files import TranscriptFiles
from handlers.groups import (
    AutoTranscribeCommand,
    MembershipHandler,
    MigrationHandler,
    TranscribeCommand,
)
from handlers.media import MediaHandler
from handlers.options import SpeakersCommand, VocabCommand
from storage.db import Database

# Only new messages: an edited command or caption must not run or transcribe again.
NEW = filters.UpdateType.MESSAGE
MEDIA = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.VIDEO | filters.Document.ALL


@dataclass(frozen=True)
class Deps:
    """What the handlers are given: settings and services, nothing of the Application."""

    settings: Settings
    db: Database
    quotas: Quotas
    desk: NoteDesk
    outbox: Outbox
    """Where replies go: sent in the background, so handlers never wait on a chat's pacing."""
    digests: Digests
    """Summaries and translations, counted per user and day, asked of Mistral in the background."""
    clock: Callable[[], float]
    """Wall-clock seconds for transcript retention."""
    beat: Callable[[], None]
    """Called for every update: Telegram reaches us (health)."""
    forget_batches: Callable[[int], Awaitable[int]] | None = None
    """/forgetme: cancels the user's waiting batch jobs (Batches.forget)."""


def register(app: Application, deps: Deps) -> None:  # type: ignore[type-arg]
    """Every handler, in the order Telegram updates should meet them."""
    settings, db, outbox = deps.settings, deps.db, deps.outbox

    async def beat(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        deps.beat()

    # Every update Telegram delivers (polled or by webhook) is a sign of life for health.
    app.add_handler(TypeHandler(Update, beat), group=-1)
    # Guest Mode first: message filters match guest messages too, and the first handler of a
    # group to match is the only one run, so nothing else ever answers into a guest chat.
    app.add_handler(
        MessageHandler(filters.UpdateType.GUEST_MESSAGE, guest.GuestMessages(deps.desk.intake))
    )
    # Help, usage and the recognition language for everyone; /start <payload> from a Guest
    # Mode button gives a whole transcript.
    help_command = HelpCommand(settings, outbox)
    whole = guest.WholeTranscript(db, deps.clock, outbox, help_command)
    app.add_handler(
        CommandHandler("start", whole, filters=NEW & filters.ChatType.PRIVATE, has_args=1)
    )
    app.add_handler(CommandHandler(["start", "help"], help_command, filters=NEW))
    app.add_handler(
        CommandHandler("usage", UsageCommand(settings, deps.quotas, outbox), filters=NEW)
    )
    app.add_handler(CommandHandler("language", LanguageCommand(settings, db, outbox), filters=NEW))
    # How notes are transcribed: speaker labels and the vocabulary (groups: admins only).
    app.add_handler(CommandHandler("speakers", SpeakersCommand(settings, db, outbox), filters=NEW))
    app.add_handler(CommandHandler("vocab", VocabCommand(settings, db, outbox), filters=NEW))
    # Privacy: /forgetme asks, its button deletes.
    forget = privacy.ForgetMe(settings, db, outbox, deps.forget_batches)
    app.add_handler(CommandHandler("forgetme", forget.ask, filters=NEW))
    app.add_handler(CallbackQueryHandler(forget.confirm, pattern=privacy.CALLBACK_PATTERN))
    _register_rest(app, deps)


def _register_rest(app: Application, deps: Deps) -> None:  # type: ignore[type-arg]
    """The handlers after the commands everyone uses, in order."""
    settings, db, outbox = deps.settings, deps.db, deps.outbox
    # Bot admins' commands: each refuses non-admins itself, with a reply.
    admin = AdminCommands(settings, db, outbox)
    app.add_handler(CommandHandler("setquota", admin.setquota, filters=NEW))
    app.add_handler(CommandHandler("resetusage", admin.resetusage, filters=NEW))
    app.add_handler(CommandHandler("block", admin.block, filters=NEW))
    app.add_handler(CommandHandler("unblock", admin.unblock, filters=NEW))
    app.add_handler(CommandHandler("stats", admin.stats, filters=NEW))
    # Groups: on-demand transcription, the auto-mode switch, onboarding, migration.
    app.add_handler(CommandHandler("transcribe", TranscribeCommand(deps.desk), filters=NEW))
    app.add_handler(
        CommandHandler("autotranscribe", AutoTranscribeCommand(settings, db, outbox), filters=NEW)
    )
    app.add_handler(ChatMemberHandler(MembershipHandler(db, outbox)))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, MigrationHandler(db)))
    # Media; only new messages: an edited caption is not a new note.
    app.add_handler(MessageHandler(NEW & MEDIA, MediaHandler(deps.desk, db)))
    # The .srt/.txt buttons under transcripts.
    app.add_handler(
        CallbackQueryHandler(TranscriptFiles(db, deps.clock, outbox), pattern=TRANSCRIPT_BUTTON)
    )
    # Summary and Translate under transcripts.
    app.add_handler(
        CallbackQueryHandler(
            DigestButtons(db, deps.clock, outbox, deps.digests), pattern=DIGEST_BUTTON
        )
    )
    # Any other button is still answered.
    app.add_handler(CallbackQueryHandler(errors.unknown_button))
    app.add_error_handler(errors.ErrorHandler(outbox))
