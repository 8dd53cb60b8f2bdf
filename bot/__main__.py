"""`python -m bot` / `voxgram`: settings → logging → build → run; or `worker`, `transcribe FILE`,
`health`, `migrate-db URL`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bot import health
from bot.logs import configure_logging
from bot.settings import CliSettings, HealthSettings, Settings, SettingsError, load_settings


def _settings(cls: type[Settings]) -> Settings:
    try:
        settings = load_settings(cls)
    except SettingsError as exc:
        print(f"voxgram: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(
        settings.LOG_LEVEL,
        [
            settings.TELEGRAM_BOT_TOKEN.get_secret_value(),
            settings.MISTRAL_API_KEY.get_secret_value(),
            settings.WEBHOOK_SECRET.get_secret_value(),
            settings.database_password(),
        ],
    )
    return settings


def run(*, worker: bool = False) -> None:
    """Start the bot (long polling, or webhooks when WEBHOOK_URL is set), or a `worker` that
    only runs jobs (PostgreSQL only)."""
    from bot.app import Voxgram
    from storage.db import DatabaseUnavailable

    settings = _settings(Settings)
    if worker and not settings.DATABASE_URL.get_secret_value():
        print(
            "voxgram: a worker needs DATABASE_URL (PostgreSQL): on SQLite the bot runs its jobs",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        Voxgram(settings, worker=worker).run()
    except DatabaseUnavailable as exc:
        print(f"voxgram: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _transcribe(settings: Settings, path: Path) -> str:
    from bot.telegram import render
    from bot.transcription import probing
    from bot.transcription.mistral import MistralClient
    from bot.transcription.transcriber import Transcriber

    mistral = MistralClient(
        settings.MISTRAL_API_URL,
        settings.MISTRAL_API_KEY.get_secret_value(),
        settings.MISTRAL_MODEL,
    )
    transcriber = Transcriber(
        mistral,
        mode=settings.UPLOAD_MODE,
        limit=settings.MAX_CONCURRENT_TRANSCRIPTIONS,
        chunk_seconds=settings.CHUNK_SECONDS,
    )
    try:
        info = await asyncio.to_thread(probing.probe, path)
        with tempfile.TemporaryDirectory(prefix="voxgram-cli-") as workdir:
            transcript = await transcriber.transcribe(path, Path(workdir), duration=info.duration)
    finally:
        # The uploaded copy is deleted in the background: wait for that before closing.
        await transcriber.drain(within=60)
        await mistral.aclose()
    return render.render_plain(transcript)


def transcribe(file: str) -> None:
    """Print the timestamped transcript of a local file: checks the key before going live."""
    # Imported here: `voxgram health`, run every 30 s in a container, must stay light.
    from bot.transcription import audio
    from bot.transcription.mistral import MistralError

    settings = _settings(CliSettings)
    path = Path(file)
    if not path.is_file():
        print(f"voxgram: no such file: {file}", file=sys.stderr)
        raise SystemExit(2)
    try:
        text = asyncio.run(_transcribe(settings, path))
    except audio.AudioError:
        print(f"voxgram: {file} holds no audio I can read", file=sys.stderr)
        raise SystemExit(1) from None
    except MistralError as exc:
        print(f"voxgram: Mistral: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    sys.stdout.write(text or "(no speech detected)\n")


def check_health(max_age: float) -> None:
    """Exit 0 when the database (SQLite or PostgreSQL) opens and Telegram answered the bot
    recently, else 1."""
    try:
        settings = load_settings(HealthSettings)
    except SettingsError as exc:
        print(f"voxgram: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    url = settings.DATABASE_URL.get_secret_value()
    healthy, why = health.check(settings.DATABASE_PATH, max_age, url)
    print(f"voxgram health: {why}", file=sys.stdout if healthy else sys.stderr)
    raise SystemExit(0 if healthy else 1)


def migrate_db(url: str) -> None:
    """Copy the SQLite database at DATABASE_PATH into the empty PostgreSQL database at `url`."""
    from bot.domain.redact import redact_url
    from storage.copy import TargetNotEmpty, copy_sqlite
    from storage.db import DatabaseUnavailable

    try:
        settings = load_settings(HealthSettings, DATABASE_URL=url)
    except SettingsError as exc:
        print(f"voxgram: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    target = settings.DATABASE_URL.get_secret_value()
    if not target:
        print("voxgram: migrate-db needs a postgresql:// URL", file=sys.stderr)
        raise SystemExit(2)
    if not settings.DATABASE_PATH.is_file():
        print(f"voxgram: no SQLite database at {settings.DATABASE_PATH}", file=sys.stderr)
        raise SystemExit(2)
    try:
        copied = asyncio.run(copy_sqlite(settings.DATABASE_PATH, target))
    except (DatabaseUnavailable, TargetNotEmpty) as exc:
        print(f"voxgram: {redact_url(target)} not changed: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    counts = " ".join(f"{table}={n}" for table, n in copied.items())
    print(f"voxgram: copied {settings.DATABASE_PATH} to {redact_url(target)}: {counts}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="voxgram", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("worker", help="only run jobs others queued (PostgreSQL)")
    one = commands.add_parser("transcribe", help="print the transcript of a local audio file")
    one.add_argument("file")
    check = commands.add_parser(
        "health", help="exit 0 if the running bot's database opens and Telegram answered lately"
    )
    check.add_argument(
        "--max-age",
        type=float,
        default=health.MAX_AGE,
        help="seconds since Telegram last answered the bot (default: %(default)g)",
    )
    move = commands.add_parser(
        "migrate-db", help="copy the SQLite database into an empty PostgreSQL database"
    )
    move.add_argument("url", help="postgresql://user:password@host:port/dbname")
    args = parser.parse_args(argv)
    if args.command == "transcribe":
        transcribe(args.file)
    elif args.command == "health":
        check_health(args.max_age)
    elif args.command == "migrate-db":
        migrate_db(args.url)
    else:
        run(worker=args.command == "worker")


if __name__ == "__main__":
    main()
