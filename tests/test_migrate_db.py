"""`voxgram migrate-db URL`: a bot moves from its SQLite file to an empty PostgreSQL database
and carries on: quotas, usage, retained transcripts and unfinished jobs come along."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, answer_to, clean_env, job_statuses, transcript_of
from tests.postgres import PostgresServer
from tests.test_buttons import SRT, buttons


async def migrate(db_path: Path, url: str) -> tuple[int, str]:
    """Run `python -m bot migrate-db URL` as an operator would; its exit code and words."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate-db",
        url,
        env=clean_env(DATABASE_PATH=str(db_path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_migrate_db_moves_a_sqlite_bot_to_postgresql_and_it_carries_on(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    db_path: Path,
    postgres_server: PostgresServer,
) -> None:
    admin = tg.user(ADMIN_ID, "Admin")
    admin_chat = tg.private_chat(admin)
    kit = tg.user(6100, "Kit")
    chat = tg.private_chat(kit)
    data, _, total = media.voice_note(2)
    async with run_bot(SHUTDOWN_GRACE_SECONDS=0):
        cmd = tg.send_text(admin_chat, admin, f"/setquota {kit['id']} 900")
        await tg.wait_for(lambda: answer_to(tg, admin_chat["id"], cmd["message_id"]))
        first = tg.send_voice(chat, kit, data, duration=round(total))
        (kept,) = await tg.wait_for(
            lambda: [
                m
                for m in transcript_of(tg, chat["id"], first["message_id"]) or []
                if m.reply_markup
            ]
        )
        mistral.hang_next(60)
        second = tg.send_voice(chat, kit, data, duration=round(total))
        await mistral.wait_for(lambda: mistral.hanging == 1)
    assert job_statuses(db_path) == ["done", "queued"]  # the stop left the second unfinished
    mistral.release_hangs()

    url = postgres_server.create_database()
    code, said = await migrate(db_path, url)
    assert code == 0, said
    code, said = await migrate(db_path, url)
    assert code == 2
    assert len(said.strip().splitlines()) == 1 and "not changed" in said

    async with run_bot(DATABASE_URL=url):
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], second["message_id"]))
        tg.press(chat["id"], kept.message_id, kit, buttons(kept)[SRT])
        (sent,) = await tg.wait_for(
            lambda: [m for m in tg.replies_to(chat["id"], kept.message_id) if m.document]
        )
        usage = tg.send_text(chat, kit, "/usage")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], usage["message_id"]))
    assert sent.document is not None and sent.document[0].endswith(".srt")
    # Charged once per note: the first on SQLite, the second on PostgreSQL (the call cut
    # short by the stop charged nothing).
    billed = mistral.transcriptions[0].billed_seconds
    assert answer is not None
    text = answer.text or ""
    assert f"You used {2 * billed} s" in text
    assert "Quota: 900 s" in text
    assert Db(db_path, url).rows("SELECT status FROM jobs ORDER BY id") == [("done",), ("done",)]
    # New rows take ids after the copied ones.
    ((next_id,),) = Db(db_path, url).rows("SELECT nextval(pg_get_serial_sequence('jobs', 'id'))")
    assert next_id > 2
