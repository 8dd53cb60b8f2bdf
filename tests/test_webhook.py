"""Webhook mode: `python -m bot` with WEBHOOK_URL set serves Telegram's POSTs
behind a TLS-terminating proxy; only requests carrying the secret token are taken."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import bot_env, bot_process, expected_lines, job_statuses, transcript_of

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


def webhook_env(tg: FakeTelegram, mistral: FakeMistral, db_path: Path, port: int) -> dict[str, str]:
    return bot_env(
        tg,
        mistral,
        db_path,
        WEBHOOK_URL=PUBLIC_URL,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=SECRET,
    )


def rss_kb(pid: int) -> int:
    """The resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def raw_post(port: int, headers: dict[str, str], declared: int) -> bytes:
    """POST headers declaring a body of `declared` bytes and send none of it: what the server
    answered before it closed the connection (a server waiting for the body answers nothing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /telegram/hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n{head}\r\n".encode()
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


async def test_webhook_refuses_big_and_unauthenticated_bodies_without_reading_them(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    port = free_port()
    env = webhook_env(tg, mistral, tmp_path / "bot.sqlite3", port)
    big = 90 * 1024 * 1024
    async with bot_process(env, tmp_path, stderr=asyncio.subprocess.PIPE) as process:
        await tg.wait_for(lambda: tg.calls("setWebhook"))
        await post_update(f"http://127.0.0.1:{port}/telegram/hook", {}, {})  # listening
        before = rss_kb(process.pid)
        answers = [
            await raw_post(port, {}, big),
            await raw_post(port, {"X-Telegram-Bot-Api-Secret-Token": "guess"}, big),
            await raw_post(port, {"X-Telegram-Bot-Api-Secret-Token": SECRET}, big),
        ]
        after = rss_kb(process.pid)
        async with httpx.AsyncClient() as client:
            garbled = await client.post(
                f"http://127.0.0.1:{port}/telegram/hook",
                content=b'{"update_id": 5, "message": {"text": "my secret diary"',
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(40):
                    yield b" " * 65536

            # Without a Content-Length the cap holds while reading: the server answers 413 and
            # closes, which the client may see as the connection reset under its upload.
            try:
                streamed = (
                    await client.post(
                        f"http://127.0.0.1:{port}/telegram/hook",
                        content=chunks(),
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    )
                ).status_code
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                streamed = 413
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    statuses = [a.split(b"\r\n", 1)[0] for a in answers]
    assert statuses == [b"HTTP/1.1 403 Forbidden"] * 2 + [b"HTTP/1.1 413 Request Entity Too Large"]
    assert after - before < 20 * 1024  # KB: nothing near the 270 MB declared was read
    assert garbled.status_code == 400
    assert streamed == 413
    log = err.decode()
    assert "my secret diary" not in log
    assert "Traceback" not in log
    assert process.returncode == 0


async def test_webhook_answers_only_once_the_job_row_is_committed(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    port = free_port()
    db_path = tmp_path / "bot.sqlite3"
    env = webhook_env(tg, mistral, db_path, port)
    data, _, total = media.voice_note(2)
    rita = tg.user(1950, "Rita")
    chat = tg.private_chat(rita)
    voice = {**tg.add_file(data), "duration": round(total), "mime_type": "audio/ogg"}
    update = {"update_id": 950, "message": tg.new_message(chat, rita, voice=voice)}
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with bot_process(env, tmp_path) as process:
        await tg.wait_for(lambda: tg.calls("setWebhook"))
        await post_update(url, {}, {})  # listening
        lock = sqlite3.connect(db_path, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the handler waits to write the job row
        try:
            posted = asyncio.create_task(
                post_update(url, update, {"X-Telegram-Bot-Api-Secret-Token": SECRET})
            )
            await asyncio.sleep(2)
            answered_early = posted.done()
        finally:
            lock.rollback()
            lock.close()
        response = await posted
        rows = job_statuses(db_path)
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], update["message"]["message_id"]))
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=20)
    assert not answered_early
    assert response.status_code == 200
    assert len(rows) == 1
