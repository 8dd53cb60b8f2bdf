"""Settings from the environment (or a `.env` file), validated once at start."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.quota import QuotaPeriod
from bot.domain.redact import redact_url


class UploadMode(StrEnum):
    FILES = "files"
    DIRECT = "direct"


class Settings(BaseSettings):
    """Every setting, by the exact name operators use."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    TELEGRAM_BOT_TOKEN: SecretStr
    MISTRAL_API_KEY: SecretStr
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    TELEGRAM_LOCAL_MODE: bool = False
    MISTRAL_API_URL: str = "https://api.mistral.ai"
    MISTRAL_MODEL: str = "voxtral-mini-latest"
    UPLOAD_MODE: UploadMode = UploadMode.FILES
    DATABASE_PATH: Path = Path("data/voxgram.sqlite3")
    DATABASE_URL: SecretStr = SecretStr("")
    JOB_LEASE_SECONDS: int = Field(default=60, ge=2)
    ADMIN_IDS: Annotated[frozenset[int], NoDecode] = frozenset()
    DEFAULT_QUOTA_SECONDS: int = Field(default=1800, ge=0)
    QUOTA_PERIOD: QuotaPeriod = QuotaPeriod.MONTH
    MAX_CONCURRENT_TRANSCRIPTIONS: int = Field(default=8, ge=1, le=256)
    CHUNK_SECONDS: int = Field(default=600, ge=30)
    MAX_AUDIO_SECONDS: int = Field(default=10800, ge=1)
    TRANSCRIPT_RETENTION_HOURS: int = Field(default=24, ge=0)
    SHUTDOWN_GRACE_SECONDS: int = Field(default=30, ge=0)
    MAX_PENDING_PER_USER: int = Field(default=10, ge=1)
    BATCH_OVER_SECONDS: int = Field(default=0, ge=0)
    MISTRAL_CHAT_MODEL: str = Field(default="mistral-small-latest", min_length=1)
    SUMMARIES_PER_DAY: int = Field(default=20, ge=0)
    WEBHOOK_URL: str = ""
    WEBHOOK_SECRET: SecretStr = Field(default=SecretStr(""), validate_default=True)
    WEBHOOK_LISTEN: str = "0.0.0.0"
    WEBHOOK_PORT: int = Field(default=8443, ge=1, le=65535)
    LOG_LEVEL: str = "INFO"
    LIVE_TRANSCRIPTS: bool = True

    @field_validator("TELEGRAM_BOT_TOKEN", "MISTRAL_API_KEY")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("ADMIN_IDS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("TELEGRAM_API_URL", "MISTRAL_API_URL")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url:
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme not in ("postgresql", "postgres")
                or not (parts.hostname or "host" in parse_qs(parts.query))
                or not parts.path.strip("/")
            ):
                raise ValueError(
                    "must look like postgresql://user:password@host:port/dbname,"
                    f" not {redact_url(url)}"
                )
        return SecretStr(url)

    def database_password(self) -> str:
        """The password inside DATABASE_URL ("" when none), to keep out of logs."""
        try:
            return urlsplit(self.DATABASE_URL.get_secret_value()).password or ""
        except ValueError:
            return ""

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _secret_with_webhook(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # Without it anyone who finds the URL could post updates as any user.
        if info.data.get("WEBHOOK_URL") and not value.get_secret_value():
            raise ValueError("is required when WEBHOOK_URL is set")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level


class CliSettings(Settings):
    """Settings for `voxgram transcribe`: it never talks to Telegram, so no token is needed."""

    TELEGRAM_BOT_TOKEN: SecretStr = SecretStr("unused")


class HealthSettings(Settings):
    """Settings for `voxgram health`: it reads only DATABASE_PATH, so no secret is needed."""

    TELEGRAM_BOT_TOKEN: SecretStr = SecretStr("unused")
    MISTRAL_API_KEY: SecretStr = SecretStr("unused")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def load_settings(cls: type[Settings] = Settings, **values: str) -> Settings:
    """Read and validate the settings (`values` over the environment's), turning pydantic's
    report into one line."""
    try:
        return cls(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        if error["type"] == "missing":
            raise SettingsError(f"setting {name} is required but not set") from None
        raise SettingsError(f"setting {name} is invalid: {error['msg']}") from None
    except ValueError as exc:
        # pydantic-settings raises a plain error for values it cannot parse (ADMIN_IDS=abc).
        raise SettingsError(f"invalid settings: {str(exc).splitlines()[0]}") from None
