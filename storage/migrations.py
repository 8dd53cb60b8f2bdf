"""The schema, one migration per version, for SQLite and for PostgreSQL; never edit one that
has shipped."""

from __future__ import annotations

# Each entry moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        user_id        INTEGER PRIMARY KEY,
        quota_seconds  INTEGER,           -- NULL: DEFAULT_QUOTA_SECONDS; -1: unlimited
        quota_set_by   INTEGER,           -- the admin who set quota_seconds
        blocked        INTEGER NOT NULL DEFAULT 0,
        language       TEXT,              -- pinned recognition language, NULL: auto
        updated_at     INTEGER NOT NULL
    );
    CREATE TABLE usage (
        user_id           INTEGER NOT NULL,
        period            TEXT NOT NULL,  -- '2026-11', '2026-11-25' or 'total'
        used_seconds      INTEGER NOT NULL DEFAULT 0,
        reserved_seconds  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, period)
    );
    CREATE TABLE jobs (
        id                  INTEGER PRIMARY KEY,
        chat_id             INTEGER NOT NULL,
        message_id          INTEGER NOT NULL,  -- the note transcribed; the reply goes to it
        chat_type           TEXT NOT NULL,
        thread_id           INTEGER,
        payer_id            INTEGER NOT NULL,
        trigger             TEXT NOT NULL,     -- private | auto | command
        kind                TEXT NOT NULL,     -- voice | audio | document | video_note | video
        file_id             TEXT NOT NULL,
        file_size           INTEGER,
        file_name           TEXT,
        declared_seconds    INTEGER,
        header              TEXT,
        language            TEXT,
        user_language       TEXT,
        period              TEXT NOT NULL,
        reserved_seconds    INTEGER NOT NULL DEFAULT 0,
        billed_seconds      INTEGER,
        status              TEXT NOT NULL,     -- new | queued | running | done | failed
        error               TEXT,
        status_message_id   INTEGER,
        attempts            INTEGER NOT NULL DEFAULT 0,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        UNIQUE (chat_id, message_id)
    );
    CREATE INDEX jobs_by_status ON jobs (status, id);
    CREATE TABLE mistral_files (
        file_id     TEXT PRIMARY KEY,
        job_id      INTEGER,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE chats (
        chat_id          INTEGER PRIMARY KEY,
        auto_transcribe  INTEGER NOT NULL DEFAULT 1,
        language         TEXT,
        onboarded        INTEGER NOT NULL DEFAULT 0,
        updated_at       INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE quota_notices (
        chat_id  INTEGER NOT NULL,
        user_id  INTEGER NOT NULL,
        period   TEXT NOT NULL,
        PRIMARY KEY (chat_id, user_id, period)
    );
    """,
    """
    CREATE TABLE transcripts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: old buttons stay dead
        job_id      INTEGER NOT NULL UNIQUE,
        user_id     INTEGER NOT NULL,   -- who paid for it; /forgetme deletes by it
        chat_id     INTEGER NOT NULL,   -- its buttons work in this chat only
        body        TEXT NOT NULL,      -- the transcript as JSON
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE INDEX transcripts_by_expiry ON transcripts (expires_at);
    CREATE INDEX transcripts_by_user ON transcripts (user_id);
    """,
    """
    CREATE TABLE meta (
        name   TEXT PRIMARY KEY,
        value  BLOB NOT NULL
    );
    CREATE TABLE carried_usage (
        pseudonym  BLOB NOT NULL,     -- HMAC-SHA256 of a forgotten user id, keyed from meta
        period     TEXT NOT NULL,
        seconds    INTEGER NOT NULL,  -- used and reserved when they sent /forgetme
        PRIMARY KEY (pseudonym, period)
    );
    """,
    """
    ALTER TABLE jobs ADD COLUMN author_id INTEGER;         -- who sent the note (NULL: unknown)
    ALTER TABLE transcripts ADD COLUMN author_id INTEGER;  -- /forgetme deletes by it too
    CREATE INDEX transcripts_by_author ON transcripts (author_id);
    """,
    """
    CREATE INDEX jobs_by_status_chat ON jobs (status, chat_id);  -- running jobs per chat, at claim
    """,
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;     -- the process running it (NULL: no lease)
    ALTER TABLE jobs ADD COLUMN lease_until INTEGER;  -- unix time its lease ends unless renewed
    """,
    """
    ALTER TABLE jobs ADD COLUMN batch_plan TEXT;        -- JSON: the uploaded chunks of a batch
    ALTER TABLE jobs ADD COLUMN batch_id TEXT;          -- Mistral's batch job, once created
    ALTER TABLE jobs ADD COLUMN batch_seconds INTEGER;  -- of billed_seconds, those by batch
    ALTER TABLE usage ADD COLUMN batch_seconds INTEGER NOT NULL DEFAULT 0;  -- of used_seconds
    """,
    """
    ALTER TABLE users ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;  -- label who speaks
    ALTER TABLE chats ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;   -- as read at admission
    ALTER TABLE jobs ADD COLUMN vocabulary TEXT;  -- its context_bias terms, space-separated
    CREATE TABLE vocabulary (
        scope     TEXT NOT NULL,     -- 'user' (their notes in private) or 'chat' (a group's)
        owner_id  INTEGER NOT NULL,  -- the user's or the group's id
        term      TEXT NOT NULL,     -- a context_bias item: no whitespace, no comma
        position  INTEGER NOT NULL,  -- the order terms were added in
        added_at  INTEGER NOT NULL,
        PRIMARY KEY (scope, owner_id, term)
    );
    """,
    """
    ALTER TABLE jobs ADD COLUMN file_unique_id TEXT;  -- the recording, the same in every copy
    ALTER TABLE jobs ADD COLUMN options_key TEXT;     -- TranscriptionOptions.key() at admission
    ALTER TABLE jobs ADD COLUMN chat_kind TEXT NOT NULL DEFAULT 'bot';  -- bot | guest
    ALTER TABLE jobs ADD COLUMN inline_message_id TEXT;  -- guest: the message answering it
    ALTER TABLE transcripts ADD COLUMN file_unique_id TEXT;
    ALTER TABLE transcripts ADD COLUMN options TEXT;
    CREATE INDEX transcripts_by_recording ON transcripts (file_unique_id, options, expires_at);
    CREATE UNIQUE INDEX jobs_by_inline_message ON jobs (inline_message_id);
    """,
    """
    CREATE TABLE digest_counts (
        pseudonym  BLOB NOT NULL,              -- HMAC of the user id (storage/carried.py)
        day        TEXT NOT NULL,              -- UTC day, '2026-11-25'
        used       INTEGER NOT NULL DEFAULT 0, -- summaries and translations given
        reserved   INTEGER NOT NULL DEFAULT 0, -- asked of Mistral, not answered yet
        PRIMARY KEY (pseudonym, day)
    );
    """,
    """
    CREATE TABLE replicas (
        owner    TEXT PRIMARY KEY,   -- a process running jobs (storage/leases.py new_owner)
        seen_at  INTEGER NOT NULL    -- unix time it last said it is alive
    );
    """,
)

# PostgreSQL started at version 6: its first step creates that schema, the next five are empty;
# later steps are written for both.
# Telegram ids pass 2^31: every integer is a BIGINT.
POSTGRES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        user_id        BIGINT PRIMARY KEY,
        quota_seconds  BIGINT,            -- NULL: DEFAULT_QUOTA_SECONDS; -1: unlimited
        quota_set_by   BIGINT,            -- the admin who set quota_seconds
        blocked        INTEGER NOT NULL DEFAULT 0,
        language       TEXT,              -- pinned recognition language, NULL: auto
        updated_at     BIGINT NOT NULL
    );
    CREATE TABLE usage (
        user_id           BIGINT NOT NULL,
        period            TEXT NOT NULL,  -- '2026-11', '2026-11-25' or 'total'
        used_seconds      BIGINT NOT NULL DEFAULT 0,
        reserved_seconds  BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, period)
    );
    CREATE TABLE jobs (
        id                  BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        chat_id             BIGINT NOT NULL,
        message_id          BIGINT NOT NULL,   -- the note transcribed; the reply goes to it
        chat_type           TEXT NOT NULL,
        thread_id           BIGINT,
        payer_id            BIGINT NOT NULL,
        trigger             TEXT NOT NULL,     -- private | auto | command
        kind                TEXT NOT NULL,     -- voice | audio | document | video_note | video
        file_id             TEXT NOT NULL,
        file_size           BIGINT,
        file_name           TEXT,
        declared_seconds    BIGINT,
        header              TEXT,
        language            TEXT,
        user_language       TEXT,
        period              TEXT NOT NULL,
        reserved_seconds    BIGINT NOT NULL DEFAULT 0,
        billed_seconds      BIGINT,
        status              TEXT NOT NULL,     -- new | queued | running | done | failed
        error               TEXT,
        status_message_id   BIGINT,
        attempts            INTEGER NOT NULL DEFAULT 0,
        created_at          BIGINT NOT NULL,
        updated_at          BIGINT NOT NULL,
        author_id           BIGINT,            -- who sent the note (NULL: unknown)
        UNIQUE (chat_id, message_id)
    );
    CREATE INDEX jobs_by_status ON jobs (status, id);
    CREATE INDEX jobs_by_status_chat ON jobs (status, chat_id);
    CREATE TABLE mistral_files (
        file_id     TEXT PRIMARY KEY,
        job_id      BIGINT,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE chats (
        chat_id          BIGINT PRIMARY KEY,
        auto_transcribe  INTEGER NOT NULL DEFAULT 1,
        language         TEXT,
        onboarded        INTEGER NOT NULL DEFAULT 0,
        updated_at       BIGINT NOT NULL
    );
    CREATE TABLE quota_notices (
        chat_id  BIGINT NOT NULL,
        user_id  BIGINT NOT NULL,
        period   TEXT NOT NULL,
        PRIMARY KEY (chat_id, user_id, period)
    );
    CREATE TABLE transcripts (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,  -- never reused
        job_id      BIGINT NOT NULL UNIQUE,
        user_id     BIGINT NOT NULL,
        chat_id     BIGINT NOT NULL,
        body        TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        author_id   BIGINT
    );
    CREATE INDEX transcripts_by_expiry ON transcripts (expires_at);
    CREATE INDEX transcripts_by_user ON transcripts (user_id);
    CREATE INDEX transcripts_by_author ON transcripts (author_id);
    CREATE TABLE meta (
        name   TEXT PRIMARY KEY,
        value  BYTEA NOT NULL
    );
    CREATE TABLE carried_usage (
        pseudonym  BYTEA NOT NULL,
        period     TEXT NOT NULL,
        seconds    BIGINT NOT NULL,
        PRIMARY KEY (pseudonym, period)
    );
    """,
    "",
    "",
    "",
    "",
    "",
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
    """,
    """
    ALTER TABLE jobs ADD COLUMN batch_plan TEXT;
    ALTER TABLE jobs ADD COLUMN batch_id TEXT;
    ALTER TABLE jobs ADD COLUMN batch_seconds BIGINT;
    ALTER TABLE usage ADD COLUMN batch_seconds BIGINT NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE users ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chats ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN speakers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN vocabulary TEXT;
    CREATE TABLE vocabulary (
        scope     TEXT NOT NULL,
        owner_id  BIGINT NOT NULL,
        term      TEXT NOT NULL,
        position  INTEGER NOT NULL,
        added_at  BIGINT NOT NULL,
        PRIMARY KEY (scope, owner_id, term)
    );
    """,
    """
    ALTER TABLE jobs ADD COLUMN file_unique_id TEXT;
    ALTER TABLE jobs ADD COLUMN options_key TEXT;
    ALTER TABLE jobs ADD COLUMN chat_kind TEXT NOT NULL DEFAULT 'bot';
    ALTER TABLE jobs ADD COLUMN inline_message_id TEXT;
    ALTER TABLE transcripts ADD COLUMN file_unique_id TEXT;
    ALTER TABLE transcripts ADD COLUMN options TEXT;
    CREATE INDEX transcripts_by_recording ON transcripts (file_unique_id, options, expires_at);
    CREATE UNIQUE INDEX jobs_by_inline_message ON jobs (inline_message_id);
    """,
    """
    CREATE TABLE digest_counts (
        pseudonym  BYTEA NOT NULL,
        day        TEXT NOT NULL,
        used       INTEGER NOT NULL DEFAULT 0,
        reserved   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (pseudonym, day)
    );
    """,
    """
    CREATE TABLE replicas (
        owner    TEXT PRIMARY KEY,
        seen_at  BIGINT NOT NULL
    );
    """,
)
assert len(POSTGRES_MIGRATIONS) == len(MIGRATIONS)

# The advisory lock held while migrating: negative, so never a Telegram user id (Tx.lock).
MIGRATION_LOCK = -0x766F78
HOUSEKEEPING_LOCK = -0x766F79
"""Held by the one replica doing a round of housekeeping."""


def statements(script: str) -> list[str]:
    """Split a migration script (no semicolons inside statements) into statements."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
