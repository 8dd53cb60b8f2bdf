"""The Bot API's clients on aiohttp, with a real Bot against a server on loopback."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import BodyPartReader, web
from telegram import Bot
from telegram.error import NetworkError, TelegramError, TimedOut

from bot.telegram.heartbeat import BotRequest, PollRequest

TOKEN = "123456:SECRET-token"


class Server:
    """Answers getMe, records what sendDocument uploaded, never answers getChat."""

    def __init__(self) -> None:
        self.uploaded: dict[str, bytes] = {}
        self.fields: dict[str, str] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "getChat":
            await asyncio.Event().wait()
        if method == "sendDocument":
            async for part in await request.multipart():
                assert isinstance(part, BodyPartReader)
                data = await part.read()
                if part.filename:
                    self.uploaded[part.filename] = bytes(data)
                else:
                    self.fields[str(part.name)] = data.decode()
            return web.json_response({"ok": True, "result": _message()})
        if method == "getMe":
            bot = {"id": 123456, "is_bot": True, "first_name": "Vox", "username": "vox_bot"}
            return web.json_response({"ok": True, "result": bot})
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def __aenter__(self) -> Server:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _message() -> dict[str, object]:
    return {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 42, "type": "private"},
        "document": {"file_id": "f", "file_unique_id": "u", "file_name": "note.srt"},
    }


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server() as running:
        yield running


def bot_at(port: int, request: BotRequest | PollRequest) -> Bot:
    return Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)


async def test_a_document_goes_as_a_multipart_upload(server: Server) -> None:
    async with bot_at(server.port, BotRequest()) as bot:
        document = io.BytesIO(b"1\n00:00:00,000 --> 00:00:01,000\nhi\n")
        await bot.send_document(42, document, filename="a.srt")
    assert server.uploaded == {"a.srt": b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"}
    assert server.fields["chat_id"] == "42"


async def test_an_answer_that_never_comes_times_out(server: Server) -> None:
    async with bot_at(server.port, BotRequest(timeout=0.2)) as bot:
        with pytest.raises(TimedOut):
            await bot.get_chat(42)


async def test_nobody_listening_is_a_network_error_without_the_token(
    server: Server, unused_tcp_port: int
) -> None:
    async with bot_at(server.port, BotRequest()) as bot:
        bot._base_url = f"http://127.0.0.1:{unused_tcp_port}/bot{TOKEN}"
        with pytest.raises(NetworkError) as failed:
            await bot.get_me()
    assert "SECRET" not in str(failed.value)


async def test_each_successful_poll_is_a_heartbeat(server: Server) -> None:
    beats: list[int] = []
    async with bot_at(server.port, PollRequest(lambda: beats.append(1))) as bot:
        assert beats == [1]  # initialize() asked getMe
        await bot.get_me()
        with pytest.raises(TelegramError):  # the server's 404: not a heartbeat
            await bot.get_webhook_info()
    assert beats == [1, 1]
