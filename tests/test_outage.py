"""Telegram unreachable: at start the bot waits and retries, while polling it says so once when
the outage starts and once when it ends; no tracebacks either way."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import bot_env, bot_process, expected_lines, transcript_of


async def test_telegram_down_at_start_is_waited_out(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    db_path = tmp_path / "bot.sqlite3"
    env = bot_env(tg, mistral, db_path)
    tg.fail_next("getMe", status=502, description="Bad Gateway", times=2)
    data, words, total = media.voice_note(2)
    ida = tg.user(1980, "Ida")
    chat = tg.private_chat(ida)
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as process:
        note = tg.send_voice(chat, ida, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    log = err.decode()
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert len(tg.calls("getMe")) == 3
    assert log.count("Telegram does not answer") == 2  # one line per attempt
    assert "Traceback" not in log
    assert process.returncode == 0


async def test_an_outage_while_polling_is_one_warning_and_one_recovery_line(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    env = bot_env(tg, mistral, tmp_path / "bot.sqlite3")
    data, words, total = media.voice_note(2)
    jo = tg.user(1990, "Jo")
    chat = tg.private_chat(jo)
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as process:
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        tg.fail_next("getUpdates", status=502, description="Bad Gateway", times=2)
        polls = len(tg.calls("getUpdates"))
        tg.send_text(chat, jo, "/help")  # ends the pending long poll: the next ones fail
        await tg.wait_for(lambda: len(tg.calls("getUpdates")) > polls + 3, timeout=20)
        note = tg.send_voice(chat, jo, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    log = err.decode()
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert log.count("Telegram does not answer") == 1
    assert log.count("Telegram answers again") == 1
    assert "Traceback" not in log
    assert process.returncode == 0
