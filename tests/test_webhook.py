"""Webhook mode: `python -m bot` with WEBHOOK_URL set serves Telegram's POSTs
behind a TLS-terminating proxy; only requests carrying the secret token are taken."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any

import httpx

from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import bot_env, bot_process, expected_lines, transcript_of

SECRET = "webhook-Secret_0123456789"
PUBLIC_URL = "https://voxgram.example.org/telegram/hook"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post_update(
    url: str, update: dict[str, Any], headers: dict[str, str], deadline: float = 30.0
) -> httpx.Response:
    """POST as Telegram does; retried only while the bot's server is not listening yet."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return await client.post(
                    url,
                    content=json.dumps(update),
                    headers={"Content-Type": "application/json", **headers},
                )
            except httpx.ConnectError:
                if loop.time() > until:
                    raise
                await asyncio.sleep(0.1)


async def test_webhook_takes_updates_with_the_secret_and_refuses_others(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    port = free_port()
    env = bot_env(
        tg,
        mistral,
        tmp_path / "bot.sqlite3",
        WEBHOOK_URL=PUBLIC_URL,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=SECRET,
    )
    local_url = f"http://127.0.0.1:{port}/telegram/hook"
    data, words, total = media.voice_note(3)
    vera = tg.user(1900, "Vera")
    chat = tg.private_chat(vera)

    def voice_update(update_id: int) -> dict[str, Any]:
        voice = {**tg.add_file(data), "duration": round(total), "mime_type": "audio/ogg"}
        return {"update_id": update_id, "message": tg.new_message(chat, vera, voice=voice)}

    forged, wrong, real = voice_update(900), voice_update(901), voice_update(902)
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as process:
        (registered,) = await tg.wait_for(lambda: tg.calls("setWebhook"))
        assert registered.params["url"] == PUBLIC_URL
        assert registered.params["secret_token"] == SECRET

        no_secret = await post_update(local_url, forged, {})
        bad_secret = await post_update(
            local_url, wrong, {"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        accepted = await post_update(local_url, real, {"X-Telegram-Bot-Api-Secret-Token": SECRET})
        note_id = real["message"]["message_id"]
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note_id))
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert (no_secret.status_code, bad_secret.status_code) == (403, 403)
    assert accepted.status_code == 200
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    # Only the update with the secret was taken; the bot never polled.
    assert tg.replies_to(chat["id"], forged["message"]["message_id"]) == []
    assert tg.replies_to(chat["id"], wrong["message"]["message_id"]) == []
    assert len(mistral.transcriptions) == 1
    assert tg.calls("getUpdates") == []
    assert process.returncode == 0
    assert SECRET not in err.decode()
