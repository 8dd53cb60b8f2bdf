"""Settings: per chat (auto mode, onboarding, language, speakers, quota notices) and per user
(language, speakers)."""

from __future__ import annotations

from storage.db import Database, Read, Row, now


async def auto_transcribe(db: Database, chat_id: int) -> bool:
    """Whether the group transcribes every note (on unless turned off)."""
    row = await db.fetchone("SELECT auto_transcribe FROM chats WHERE chat_id = ?", (chat_id,))
    return True if row is None else bool(row[0])


async def set_auto_transcribe(db: Database, chat_id: int, on: bool) -> None:
    await db.execute(
        """
        INSERT INTO chats (chat_id, auto_transcribe, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (chat_id) DO UPDATE SET auto_transcribe = excluded.auto_transcribe,
            updated_at = excluded.updated_at
        """,
        (chat_id, int(on), now()),
    )


async def mark_onboarded(db: Database, chat_id: int) -> bool:
    """Record that the group got its how-to message; True only the first time."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO chats (chat_id, updated_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (chat_id, now()),
        )
        changed = await tx.execute(
            "UPDATE chats SET onboarded = 1, updated_at = ? WHERE chat_id = ? AND onboarded = 0",
            (now(), chat_id),
        )
        return changed == 1


async def migrate_chat(db: Database, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its settings move to the new id (unless it has its own)."""
    await db.execute(
        """
        INSERT INTO chats (chat_id, auto_transcribe, language, speakers, onboarded, updated_at)
        SELECT ?, auto_transcribe, language, speakers, onboarded, ? FROM chats WHERE chat_id = ?
        ON CONFLICT (chat_id) DO NOTHING
        """,
        (new_id, now(), old_id),
    )
    await db.execute(
        """
        INSERT INTO vocabulary (scope, owner_id, term, position, added_at)
        SELECT scope, ?, term, position, added_at FROM vocabulary
        WHERE scope = 'chat' AND owner_id = ?
        ON CONFLICT DO NOTHING
        """,
        (new_id, old_id),
    )


async def set_user_language(db: Database, user_id: int, language: str | None) -> None:
    """Pin a user's recognition language for their notes in private (None: auto-detect)."""
    await db.execute(
        """
        INSERT INTO users (user_id, language, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET language = excluded.language,
            updated_at = excluded.updated_at
        """,
        (user_id, language, now()),
    )


async def set_chat_language(db: Database, chat_id: int, language: str | None) -> None:
    """Pin a group's recognition language for every note in it (None: auto-detect)."""
    await db.execute(
        """
        INSERT INTO chats (chat_id, language, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language,
            updated_at = excluded.updated_at
        """,
        (chat_id, language, now()),
    )


async def recognition_language(db: Database, *, chat_id: int | None, user_id: int) -> str | None:
    """The language pinned for a note: the group's in a group (chat_id), else the user's."""
    if chat_id is not None:
        row = await db.fetchone("SELECT language FROM chats WHERE chat_id = ?", (chat_id,))
    else:
        row = await db.fetchone("SELECT language FROM users WHERE user_id = ?", (user_id,))
    return None if row is None or row[0] is None else str(row[0])


def note_settings_of(*, chat_id: int | None, user_id: int) -> Read[tuple[str | None, bool]]:
    """A note's pinned language and whether its speakers are labelled, in one read: the
    group's in a group (chat_id), else the user's (as recognition_language and speakers)."""
    if chat_id is not None:
        sql, key = "SELECT language, speakers FROM chats WHERE chat_id = ?", chat_id
    else:
        sql, key = "SELECT language, speakers FROM users WHERE user_id = ?", user_id
    return Read(sql, (key,), _note_settings)


def _note_settings(rows: list[Row]) -> tuple[str | None, bool]:
    if not rows:
        return None, False
    language, speakers = rows[0][0], rows[0][1]
    return (None if language is None else str(language)), bool(speakers)


async def set_user_speakers(db: Database, user_id: int, on: bool) -> None:
    """Label who speaks in a user's notes in private."""
    await db.execute(
        """
        INSERT INTO users (user_id, speakers, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET speakers = excluded.speakers,
            updated_at = excluded.updated_at
        """,
        (user_id, int(on), now()),
    )


async def set_chat_speakers(db: Database, chat_id: int, on: bool) -> None:
    """Label who speaks in every note of a group."""
    await db.execute(
        """
        INSERT INTO chats (chat_id, speakers, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (chat_id) DO UPDATE SET speakers = excluded.speakers,
            updated_at = excluded.updated_at
        """,
        (chat_id, int(on), now()),
    )


async def speakers(db: Database, *, chat_id: int | None, user_id: int) -> bool:
    """Whether a note's speakers are labelled: the group's choice in a group (chat_id), else the
    user's (off unless turned on)."""
    if chat_id is not None:
        row = await db.fetchone("SELECT speakers FROM chats WHERE chat_id = ?", (chat_id,))
    else:
        row = await db.fetchone("SELECT speakers FROM users WHERE user_id = ?", (user_id,))
    return row is not None and bool(row[0])
