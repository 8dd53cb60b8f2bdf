"""The bot as operators start it: `python -m bot` with only environment variables."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import bot_env, bot_process, expected_lines, transcript_of


async def test_python_m_bot_transcribes_and_stops_cleanly_on_sigterm(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    db_path = tmp_path / "db" / "bot.sqlite3"
    env = bot_env(tg, mistral, db_path, SHUTDOWN_GRACE_SECONDS="5")
    data, words, total = media.voice_note(3)
    uma = tg.user(1300, "Uma")
    chat = tg.private_chat(uma)
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as process:
        note = tg.send_voice(chat, uma, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0
    log = err.decode()
    assert "voxgram started" in log
    assert tg.token not in log
    assert db_path.is_file()
